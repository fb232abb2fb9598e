"""Request ids travel from intake to delivery: the X-Request-Id of the POST that stored a
statement is in the log lines of the processing batch that handled it and of the delivery that
pushed the resulting readiness change. Logs carry ids only, bounded."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import orjson
import pytest
import requests
import sqlalchemy as sa

from lrs_connector import demo, logs, processing
from lrs_connector.lms.config import TargetContext, build_all
from lrs_connector.lms.delivery import Dispatcher, Policy
from lrs_connector.store import database
from lrs_connector.store import statements as stored
from lrs_connector.store.mapping_tables import evidence
from lrs_connector.store.readiness_tables import outbox
from lrs_connector.store.tables import processing_queue
from lrs_connector.xapi.records import prepare
from tests.delivery.receiver import start as start_receiver

SECRET = "request-ids-webhook-secret"


def _statements(people: int) -> list[dict]:
    """The demo's statements (voiding left out), spread over `people` accounts, fresh ids."""
    templates = [s for s in demo.statements() if s["verb"]["id"].rsplit("/", 1)[-1] != "voided"]
    out = []
    for n, template in enumerate(templates):
        statement = orjson.loads(orjson.dumps(template))
        statement["id"] = str(uuid.uuid4())
        statement["actor"] = {"objectType": "Agent", "account": {
            "homePage": "https://moodle.example.org", "name": f"p{n % people}"}}
        out.append(statement)
    return out


@pytest.fixture
def receiver():
    found, server = start_receiver(SECRET)
    yield found
    server.shutdown()


@pytest.fixture
def carried_logs(caplog):
    """Log records with the request ids they were written under (as the service's handler
    adds them; the filter runs in the logging thread, so each thread's ids are its own)."""
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(logs.RequestIdFilter())
    return caplog


def test_ids_are_bounded_distinct_and_sane():
    many = [f"r{n}" for n in range(30)]
    got = logs.bounded(["a", "a", None, "bad id", "x" * 65, 7, *many])
    assert got.ids == ("a", *many[:19]) and got.omitted == 11
    assert str(got).endswith(" +11 more") and "bad id" not in str(got)
    assert logs.bounded("one-id").ids == ("one-id",)  # a bare string is one id, not letters
    assert logs.bounded(None) == logs.Carried() and str(logs.Carried()) == "-"


def test_carrying_nests_and_restores():
    assert logs.carried() == logs.Carried()
    with logs.carrying(["outer"]):
        assert logs.current_request_id() == "outer"
        with logs.carrying(["a", "b"]):
            assert logs.carried().ids == ("a", "b") and logs.current_request_id() is None
        assert logs.current_request_id() == "outer"
    assert logs.carried() == logs.Carried()


def test_json_lines_name_one_id_or_the_bounded_set():
    formatter = logs.JsonFormatter()
    ids_filter = logs.RequestIdFilter()

    def line(ids) -> dict:
        record = logging.LogRecord("lrs", logging.INFO, __file__, 1, "batch done", None, None)
        with logs.carrying(ids):
            ids_filter.filter(record)
        return orjson.loads(formatter.format(record))

    assert line(["r1"])["request_id"] == "r1" and "request_ids" not in line(["r1"])
    several = line([f"r{n}" for n in range(25)])
    assert several["request_ids"] == [f"r{n}" for n in range(20)]
    assert several["request_ids_omitted"] == 5 and "request_id" not in several
    assert set(line([])) == {"time", "level", "logger", "message"}


def test_a_request_ends_without_leaking_its_id(client):
    answer = client.get("/healthz", headers={"X-Request-Id": "probe-1"})
    assert answer.headers["X-Request-Id"] == "probe-1"
    assert logs.carried() == logs.Carried()


def test_request_ids_reach_processing_and_delivery_logs(
    client, engine, source_headers, receiver, carried_logs
):
    statements = _statements(people=3)
    half = len(statements) // 2
    solo = _statements(people=1)[:5]  # someone only the third request is about
    for statement in solo:
        statement["actor"]["account"]["name"] = "solo"
    sent = {"intake-a": statements[:half], "intake-b": statements[half:], "intake-c": solo}
    for request_id, batch in sent.items():
        answer = client.post("/xapi/statements", json=batch,
                             headers={**source_headers, "X-Request-Id": request_id})
        assert answer.status_code == 200, answer.get_json()
        assert answer.headers["X-Request-Id"] == request_id
    with database.read(engine) as conn:
        queued = dict(conn.execute(sa.select(
            processing_queue.c.request_id, sa.func.count()).group_by(processing_queue.c.request_id)
        ).all())
    assert queued == {request_id: len(batch) for request_id, batch in sent.items()}

    carried_logs.clear()
    assert processing.process_batch(engine, 1000) == len(statements) + len(solo)
    batch_lines = [r for r in carried_logs.records
                   if r.name == "lrs_connector.processing" and "processed" in r.getMessage()]
    assert len(batch_lines) == 1 and set(batch_lines[0].request_ids) == set(sent)
    assert "intake-a" in batch_lines[0].request_id and "intake-b" in batch_lines[0].request_id

    # each change names the requests that stored its learner's statements, not the whole batch's
    with database.read(engine) as conn:
        payloads = [orjson.loads(p) for p in conn.execute(sa.select(outbox.c.payload)).scalars()]
        learner_of = {row.statement_id: row.learner_id for row in conn.execute(
            sa.select(evidence.c.statement_id, evidence.c.learner_id))}
    expected: dict[int, set[str]] = {}
    for request_id, batch in sent.items():
        for statement in batch:
            if statement["id"] in learner_of:
                expected.setdefault(learner_of[statement["id"]], set()).add(request_id)
    assert payloads and all(set(p["request_ids"]) == expected[p["learner_id"]] for p in payloads)
    assert any(len(ids) == 1 for ids in expected.values())

    targets = build_all({"hr": {"kind": "webhook", "url": receiver.url, "secret": SECRET}},
                        TargetContext("http://127.0.0.1:8080", requests.Session()))
    carried_logs.clear()
    result = Dispatcher(engine, targets, Policy()).drain()
    assert result.delivered == len(receiver.events()) > 0
    delivered = [r for r in carried_logs.records
                 if r.name == "lrs_connector.lms.delivery" and "delivered" in r.getMessage()]
    assert len(delivered) == result.delivered
    assert all(set(r.request_ids) <= set(sent) and r.request_ids for r in delivered)
    # the ids stay in the connector: the LMS gets the readiness change, not our request ids
    assert not any(b"intake-a" in r.raw for r in receiver.received)


def test_work_without_a_request_logs_no_ids(engine, carried_logs):
    now = datetime.now(UTC)
    records = [prepare(s, stored=now, authority=None, default_version="1.0.0",
                       keep_upstream=True, missing_id="content") for s in _statements(1)[:5]]
    with database.write(engine) as conn:  # as the LRS poller stores what it pulled
        stored.insert(conn, records, source_id=None, via="pull", received_at=now)
    processing.process_batch(engine, 100)
    lines = [r for r in carried_logs.records if r.name == "lrs_connector.processing"]
    assert lines and all(r.request_ids == () and r.request_id == "-" for r in lines)
    with database.read(engine) as conn:
        payloads = [orjson.loads(p) for p in conn.execute(sa.select(outbox.c.payload)).scalars()]
    assert all("request_ids" not in p for p in payloads)
