"""The outbox and LMS admin API and commands, on readiness the demo data really produces."""

from __future__ import annotations

import pytest

from lrs_connector import demo, processing
from lrs_connector.cli import main
from lrs_connector.lms.delivery import Dispatcher, Policy
from lrs_connector.store import database, outbox


@pytest.fixture
def demo_changes(app, engine, settings):
    demo.load(engine, settings, echo=lambda _: None)
    while processing.process_batch(engine, 500):
        pass
    with database.read(engine) as conn:
        assert outbox.outbox_depth(conn) > 0
    return app.extensions["lrs_targets"]


def test_api_lists_retries_and_discards(client, auditor_headers, admin_headers, demo_changes,
                                        engine, receiver):
    receiver.answers = [(400, {})] * 100  # the receiver refuses everything: dead letters
    Dispatcher(engine, demo_changes, Policy()).drain()
    listed = client.get("/api/v1/outbox?status=dead&limit=2", headers=auditor_headers)
    assert listed.status_code == 200
    page = listed.get_json()
    assert len(page["deliveries"]) == 2 and page["next_cursor"]
    more = client.get(f"/api/v1/outbox?status=dead&cursor={page['next_cursor']}",
                      headers=auditor_headers).get_json()
    first_ids = {d["id"] for d in page["deliveries"]}
    assert more["deliveries"] and not first_ids & {d["id"] for d in more["deliveries"]}
    one = page["deliveries"][0]
    assert one["status"] == "dead" and "400" in one["last_error"]
    assert client.get(f"/api/v1/outbox/{one['id']}", headers=auditor_headers).get_json() == one
    assert client.post("/api/v1/outbox/retry", json={"ids": [one["id"]]},
                       headers=auditor_headers).status_code == 403
    retried = client.post("/api/v1/outbox/retry", json={"ids": [one["id"]]},
                          headers=admin_headers)
    assert retried.get_json() == {"queued": 1}
    gone = client.post("/api/v1/outbox/discard", json={"ids": [one["id"]]}, headers=admin_headers)
    assert gone.get_json() == {"discarded": 1}
    assert client.get(f"/api/v1/outbox/{one['id']}",
                      headers=auditor_headers).get_json()["status"] == "discarded"
    receiver.answers = []
    everything = client.post("/api/v1/outbox/retry", json={"target": "hr", "status": "dead"},
                             headers=admin_headers).get_json()["queued"]
    assert everything == len(first_ids | {d["id"] for d in more["deliveries"]}) - 1
    Dispatcher(engine, demo_changes, Policy()).drain()
    targets = client.get("/api/v1/lms/targets", headers=auditor_headers).get_json()["targets"]
    assert targets[0]["name"] == "hr" and targets[0]["kind"] == "webhook"
    assert targets[0]["deliveries"] == {"delivered": everything, "discarded": 1}
    assert targets[0]["last_delivery"]["status"] == "delivered"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "field"),
    [
        ("get", "/api/v1/outbox?status=lost", None, 400, "invalid-parameter", "query.status"),
        ("get", "/api/v1/outbox?limit=0", None, 400, "invalid-parameter", "query.limit"),
        ("get", "/api/v1/outbox?colour=red", None, 400, "unknown-parameter", "query.colour"),
        ("get", "/api/v1/outbox?cursor=zzz", None, 422, "invalid-cursor", "query.cursor"),
        ("get", "/api/v1/outbox/999", None, 404, "not-found", "path.delivery_id"),
        ("post", "/api/v1/outbox/retry", {}, 422, "invalid-body", "body"),
        ("post", "/api/v1/outbox/retry", {"ids": ["x"]}, 400, "invalid-field", "body.ids[0]"),
        ("post", "/api/v1/outbox/retry", {"status": "pending"}, 400, "invalid-field",
         "body.status"),
        ("post", "/api/v1/outbox/discard", {"ids": []}, 400, "invalid-field", "body.ids"),
        ("post", "/api/v1/outbox/discard", {"ids": [1], "why": 2}, 400, "unknown-field",
         "body.why"),
        ("post", "/api/v1/lms/targets/nope/check", None, 404, "not-found", "path.name"),
        ("post", "/api/v1/lms/targets/hr/links", {"learner_id": 1}, 400, "missing-field",
         "body.user_id"),
        ("post", "/api/v1/lms/targets/hr/links", {"learner_id": 1, "user_id": "  "}, 400,
         "invalid-field", "body.user_id"),
        ("post", "/api/v1/lms/targets/hr/links", {"learner_id": 999, "user_id": "u"}, 404,
         "not-found", "body.learner_id"),
    ],
)
def test_api_errors_name_the_field(client, admin_headers, method, path, body, status, code,
                                   field):
    response = getattr(client, method)(path, json=body, headers=admin_headers)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == (code, field) and error["message"]


def test_api_needs_credentials(client):
    assert client.get("/api/v1/outbox").status_code == 401
    assert client.get("/api/v1/lms/targets").status_code == 401


def test_check_and_resend_over_the_api(client, admin_headers, demo_changes, engine, receiver):
    checked = client.post("/api/v1/lms/targets/hr/check", headers=admin_headers).get_json()
    assert checked["ok"] is True and receiver.received[-1].body == {"event": "ping"}
    assert receiver.received[-1].signed
    first = Dispatcher(engine, demo_changes, Policy()).drain().delivered
    assert first > 0 and Dispatcher(engine, demo_changes, Policy()).drain().delivered == 0
    queued = client.post("/api/v1/lms/targets/hr/resend", headers=admin_headers).get_json()
    assert queued["queued"] == first  # every current score, once more
    assert Dispatcher(engine, demo_changes, Policy()).drain().delivered == first
    assert len(receiver.events()) == 2 * first


def test_cli_worker_outbox_and_check(runner, demo_changes, receiver):
    done = runner.invoke(main, ["worker", "--once"])
    assert done.exit_code == 0, done.output
    assert "hr:delivered" in done.output
    listed = runner.invoke(main, ["outbox", "list", "--status", "delivered"])
    assert listed.exit_code == 0 and "delivered" in listed.output and "hr" in listed.output
    checked = runner.invoke(main, ["lms", "check", "hr"])
    assert checked.exit_code == 0 and "ok   reachable" in checked.output
    receiver.answers = [(500, {})]
    failed = runner.invoke(main, ["lms", "check", "hr"])
    assert failed.exit_code == 1 and "FAIL reachable" in failed.output
    assert runner.invoke(main, ["lms", "check", "nope"]).exit_code == 1
    targets = runner.invoke(main, ["lms", "targets"])
    assert "hr (webhook): delivered" in targets.output
    assert runner.invoke(main, ["outbox", "retry"]).exit_code == 2
    assert "no unresolved learners" in runner.invoke(main, ["lms", "unresolved"]).output


def test_deliveries_carry_a_working_learner_page_link(runner, client, demo_changes, receiver):
    assert runner.invoke(main, ["worker", "--once"]).exit_code == 0
    events = receiver.events()
    links = {e["readiness"]["page_url"] for e in events if e["learner"]["id"] == 1}
    assert len(links) == 1  # one stable link per learner and day: re-deliveries match
    (link,) = links
    assert link.startswith("http://127.0.0.1:8080/learner/")
    page = client.get(link.removeprefix("http://127.0.0.1:8080"))
    assert page.status_code == 200 and "Readiness" in page.get_data(as_text=True)
    tampered = client.get(link.removeprefix("http://127.0.0.1:8080")[:-3] + "abc")
    assert tampered.status_code == 403
