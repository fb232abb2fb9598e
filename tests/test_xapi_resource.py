"""The strict Statements resource at /xapi/: status codes, idempotency, voiding, limits."""

from __future__ import annotations

import base64
import io
import uuid

import orjson
import pytest

from lrs_connector.store import database, queue
from lrs_connector.store import statements as store
from tests.builders import statement, voiding


def post(client, headers, body, **kwargs):
    return client.post("/xapi/statements", data=orjson.dumps(body), headers=headers, **kwargs)


def get(client, headers, **params):
    return client.get("/xapi/statements", query_string=params, headers=headers)


def test_about_is_public_and_lists_versions(client):
    response = client.get("/xapi/about")
    assert response.status_code == 200
    assert response.json["version"] == ["1.0.3", "2.0.0"]
    assert response.headers["X-Experience-API-Version"]


def test_post_one_statement_returns_its_id_and_stores_it(client, source_headers, engine):
    s = statement()
    response = post(client, source_headers, s)
    assert response.status_code == 200
    assert response.json == [s["id"]]
    assert response.headers["X-Experience-API-Version"] == "1.0.3"
    fetched = get(client, source_headers, statementId=s["id"])
    assert fetched.status_code == 200
    body = fetched.json
    assert body["verb"] == s["verb"]
    assert body["stored"].endswith("Z")
    assert body["authority"]["account"] == {"homePage": "http://127.0.0.1:8080", "name": "lms"}
    assert body["version"] == "1.0.0"
    with database.read(engine) as conn:
        assert [e.statement_id for e in queue.take(conn, 10)] == [s["id"]]


def test_post_assigns_ids_in_order(client, source_headers):
    batch = [statement(id=None), statement(), statement(id=None)]
    response = post(client, source_headers, batch)
    assert response.status_code == 200
    ids = response.json
    assert len(ids) == 3 and ids[1] == batch[1]["id"]
    for statement_id in ids:
        assert uuid.UUID(statement_id)
        assert get(client, source_headers, statementId=statement_id).status_code == 200


def test_missing_timestamp_is_set_to_stored(client, source_headers):
    s = statement(timestamp=None)
    post(client, source_headers, s)
    body = get(client, source_headers, statementId=s["id"]).json
    assert body["timestamp"] == body["stored"]


def test_a_batch_with_one_invalid_statement_stores_nothing(client, source_headers, engine):
    good = statement()
    bad = statement(verb={"id": "not an iri"})
    response = post(client, source_headers, [good, bad])
    assert response.status_code == 400
    paths = [p["path"] for p in response.json["error"]["problems"]]
    assert any(p.startswith("[1].verb") for p in paths)
    with database.read(engine) as conn:
        assert store.count(conn) == 0


def test_unknown_property_is_named(client, source_headers):
    response = post(client, source_headers, statement(colour="blue"))
    assert response.status_code == 400
    problems = response.json["error"]["problems"]
    assert any(p["path"] == "colour" for p in problems)


def test_property_names_are_case_sensitive(client, source_headers):
    s = statement()
    s["Actor"] = s.pop("actor")
    response = post(client, source_headers, s)
    assert response.status_code == 400


def test_same_id_same_content_is_accepted_again_without_a_duplicate(client, source_headers, engine):
    s = statement()
    assert post(client, source_headers, s).status_code == 200
    assert post(client, source_headers, s).status_code == 200
    with database.read(engine) as conn:
        assert store.count(conn) == 1
        assert len(queue.take(conn, 10)) == 1


def test_a_statement_sent_again_without_a_timestamp_is_accepted_again(
    client, source_headers, engine
):
    """The connector fills a missing timestamp with the stored time; a retry gets another."""
    s = statement(timestamp=None)
    assert post(client, source_headers, s).status_code == 200
    assert post(client, source_headers, s).status_code == 200
    again = client.put("/xapi/statements", query_string={"statementId": s["id"]},
                       data=orjson.dumps(s), headers=source_headers)
    assert again.status_code == 204
    stored = get(client, source_headers, statementId=s["id"]).json
    assert stored["timestamp"] == stored["stored"]
    with_one = dict(s, timestamp="2026-11-20T10:00:00.000Z")
    assert post(client, source_headers, with_one).status_code == 200
    other_verb = dict(s, verb={"id": "http://adlnet.gov/expapi/verbs/failed"})
    assert post(client, source_headers, other_verb).status_code == 409
    with database.read(engine) as conn:
        assert store.count(conn) == 1


def test_same_id_different_content_is_409_and_changes_nothing(client, source_headers):
    s = statement()
    post(client, source_headers, s)
    changed = dict(s, result={"completion": False})
    response = post(client, source_headers, [statement(), changed])
    assert response.status_code == 409
    assert s["id"] in response.json["error"]["message"]
    assert get(client, source_headers, statementId=s["id"]).json["result"] == s["result"]


def test_duplicate_ids_within_a_batch_are_400(client, source_headers):
    s = statement()
    response = post(client, source_headers, [s, dict(s)])
    assert response.status_code == 400
    assert response.json["error"]["code"] == "duplicate-id"


def test_put_stores_under_the_parameter(client, source_headers):
    s = statement(id=None)
    statement_id = str(uuid.uuid4())
    response = client.put(
        "/xapi/statements",
        query_string={"statementId": statement_id},
        data=orjson.dumps(s),
        headers=source_headers,
    )
    assert response.status_code == 204
    assert response.data == b""
    assert get(client, source_headers, statementId=statement_id).json["id"] == statement_id


def test_put_with_a_different_body_id_is_400(client, source_headers):
    s = statement()
    response = client.put(
        "/xapi/statements",
        query_string={"statementId": str(uuid.uuid4())},
        data=orjson.dumps(s),
        headers=source_headers,
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == "id-mismatch"


@pytest.mark.parametrize("params", [{}, {"statementId": "nope"}])
def test_put_needs_a_uuid_parameter(client, source_headers, params):
    response = client.put(
        "/xapi/statements",
        query_string=params,
        data=orjson.dumps(statement()),
        headers=source_headers,
    )
    assert response.status_code == 400


def test_voiding_hides_the_target_and_queues_a_voided_event(client, source_headers, engine):
    target = statement()
    post(client, source_headers, target)
    void = voiding(target["id"])
    assert post(client, source_headers, void).status_code == 200
    assert get(client, source_headers, statementId=target["id"]).status_code == 404
    voided = get(client, source_headers, voidedStatementId=target["id"])
    assert voided.status_code == 200 and voided.json["id"] == target["id"]
    assert get(client, source_headers, statementId=void["id"]).status_code == 200
    with database.read(engine) as conn:
        events = [(e.statement_id, e.event) for e in queue.take(conn, 10)]
    assert (target["id"], "voided") in events


def test_a_statement_arriving_after_its_voiding_statement_is_stored_voided(client, source_headers):
    target = statement()
    post(client, source_headers, voiding(target["id"]))
    post(client, source_headers, target)
    assert get(client, source_headers, statementId=target["id"]).status_code == 404
    assert get(client, source_headers, voidedStatementId=target["id"]).status_code == 200


def test_a_voiding_statement_cannot_void_another_voiding_statement(client, source_headers):
    target = statement()
    first = voiding(target["id"])
    post(client, source_headers, [target, first])
    post(client, source_headers, voiding(first["id"]))
    assert get(client, source_headers, statementId=first["id"]).status_code == 200


def test_voided_statement_id_does_not_return_unvoided_statements(client, source_headers):
    s = statement()
    post(client, source_headers, s)
    assert get(client, source_headers, voidedStatementId=s["id"]).status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"verb": "http://adlnet.gov/expapi/verbs/completed"},
        {"since": "2026-01-01T00:00:00Z"},
        {"statementId": "x", "voidedStatementId": "y"},
        {"statementId": "x", "limit": "1"},
    ],
)
def test_other_queries_say_the_connector_is_not_a_full_lrs(client, source_headers, params):
    response = get(client, source_headers, **params)
    assert response.status_code == 400
    assert "not a full LRS" in response.json["error"]["message"]


def test_ids_format_reduces_agents_and_activities(client, source_headers):
    s = statement()
    post(client, source_headers, s)
    body = get(client, source_headers, statementId=s["id"], format="ids").json
    assert body["actor"] == {"objectType": "Agent", "mbox": "mailto:ada@example.org"}
    assert body["object"] == {"objectType": "Activity", "id": s["object"]["id"]}


def test_auditor_tokens_may_read_but_not_write(client, source_headers, auditor_headers):
    s = statement()
    post(client, source_headers, s)
    headers = dict(auditor_headers, **{"X-Experience-API-Version": "1.0.3"})
    assert get(client, headers, statementId=s["id"]).status_code == 200
    assert post(client, headers, statement()).status_code == 401


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic " + base64.b64encode(b"src_nope:wrong").decode(), "Bearer src_x.y", "Digest x"],
)
def test_requests_without_valid_credentials_get_401_with_a_challenge(client, source, authorization):
    headers = {"X-Experience-API-Version": "1.0.3"}
    if authorization:
        headers["Authorization"] = authorization
    response = post(client, headers, statement())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_bearer_source_token_works(client, source):
    _, new = source
    headers = {"Authorization": f"Bearer {new.bearer_token}", "X-Experience-API-Version": "1.0.3"}
    assert post(client, headers, statement()).status_code == 200


def test_a_disabled_source_is_refused(client, source, source_headers, engine):
    from lrs_connector.store.holders import SOURCES

    with database.write(engine) as conn:
        SOURCES.set_enabled(conn, "lms", False)
    assert post(client, source_headers, statement()).status_code == 401


@pytest.mark.parametrize(
    ("header", "code"), [(None, "missing-version"), ("0.95", "unsupported-version")]
)
def test_version_header_is_required(client, source_headers, header, code):
    headers = {k: v for k, v in source_headers.items() if k != "X-Experience-API-Version"}
    if header:
        headers["X-Experience-API-Version"] = header
    response = post(client, headers, statement())
    assert response.status_code == 400
    assert response.json["error"]["code"] == code
    assert response.headers["X-Experience-API-Version"]


def test_version_2_is_answered_with_version_2(client, source_headers):
    headers = dict(source_headers, **{"X-Experience-API-Version": "2.0.0"})
    s = statement()
    response = post(client, headers, s)
    assert response.status_code == 200
    assert response.headers["X-Experience-API-Version"] == "2.0.0"
    assert get(client, headers, statementId=s["id"]).json["version"] == "2.0.0"


def test_malformed_json_is_400(client, source_headers):
    response = client.post("/xapi/statements", data=b'{"actor": ', headers=source_headers)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "malformed-json"


def test_too_large_body_is_413(client, source_headers, app):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    big = statement(result={"response": "x" * 4096})
    response = post(client, source_headers, big)
    assert response.status_code == 413
    assert "2048" in response.json["error"]["message"]


@pytest.mark.parametrize("path", ["/xapi/statements", "/forward/statements"])
def test_a_chunked_body_over_the_limit_is_413_and_one_within_it_is_read_whole(
    client, source_headers, app, engine, path
):
    """A chunked body has no Content-Length: the server marks its input as terminated."""
    app.config["MAX_CONTENT_LENGTH"] = 2048

    def chunked(body: object):
        data = orjson.dumps(body)
        return client.post(path, input_stream=io.BytesIO(data),
                           headers={**source_headers, "Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})

    response = chunked(statement(result={"response": "x" * 4096}))
    assert response.status_code == 413
    assert "2048" in response.json["error"]["message"]
    # nothing is read before the caller is known
    body = io.BytesIO(orjson.dumps(statement(result={"response": "x" * 4096})))
    refused = client.post(path, input_stream=body,
                          headers={"Transfer-Encoding": "chunked",
                                   "X-Experience-API-Version": "1.0.3"},
                          environ_overrides={"wsgi.input_terminated": True})
    assert refused.status_code == 401 and body.tell() == 0
    fits = statement(result={"response": "x" * 1500})
    assert len(orjson.dumps(fits)) < 2048
    assert chunked(fits).status_code == 200
    with database.read(engine) as conn:
        assert [s.id for s in store.find(conn, [fits["id"]]).values()] == [fits["id"]]


def test_too_deep_json_is_400(client, source_headers):
    deep: object = "leaf"
    for _ in range(40):
        deep = {"a": deep}
    s = statement(result={"extensions": {"https://example.org/ext": deep}})
    response = post(client, source_headers, s)
    assert response.status_code == 400
    assert "deeper" in response.json["error"]["message"]


def test_empty_batch_is_400(client, source_headers):
    assert post(client, source_headers, []).status_code == 400


def test_a_single_context_activity_is_returned_as_a_list(client, source_headers):
    parent = {"id": "https://lms.example.org/program/7"}
    s = statement(context={"contextActivities": {"parent": parent}})
    post(client, source_headers, s)
    body = get(client, source_headers, statementId=s["id"]).json
    assert body["context"]["contextActivities"]["parent"] == [parent]


def test_reads_say_how_current_they_are_even_when_nothing_is_found(client, source_headers):
    response = get(client, source_headers, statementId=str(uuid.uuid4()))
    assert response.status_code == 404
    assert response.headers["X-Experience-API-Consistent-Through"].endswith("Z")


def test_a_client_supplied_stored_is_overwritten(client, source_headers):
    s = statement(stored="2001-01-01T00:00:00.000Z")
    post(client, source_headers, s)
    assert get(client, source_headers, statementId=s["id"]).json["stored"] != s["stored"]
