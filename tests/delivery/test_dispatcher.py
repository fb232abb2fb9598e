"""The dispatcher against real webhook receivers: fan-out, coalescing, retries, dead letters,
leases, and two dispatchers sharing the work."""

from __future__ import annotations

import threading
from datetime import timedelta

import orjson
import pytest
import sqlalchemy as sa

from lrs_connector.lms.config import TargetContext, build_all
from lrs_connector.lms.delivery import Dispatcher, Policy, backoff
from lrs_connector.lms.targets import Retry
from lrs_connector.store import database, outbox
from lrs_connector.store.learner_tables import learner_aliases, learners
from lrs_connector.store.lms_tables import deliveries
from lrs_connector.store.readiness_tables import outbox as outbox_table
from tests.delivery.conftest import SECRET

DIRECTOR = "https://lrs-connector.dev/frameworks/lnd-leadership/roles/director"
CLO = "https://lrs-connector.dev/frameworks/lnd-leadership/roles/clo"


def _learner(conn, clock, email: str) -> int:
    learner_id = conn.execute(
        learners.insert().values(name=email.split("@")[0], created_at=clock())
    ).inserted_primary_key[0]
    conn.execute(learner_aliases.insert().values(
        alias=f"mbox:{email}", learner_id=learner_id, kind="mbox", created_at=clock()))
    return learner_id


def _change(conn, clock, learner_id: int, role: str, score: float, level: str) -> None:
    payload = {"learner_id": learner_id, "role": role, "role_code": role.rsplit("/", 1)[-1],
               "score": score, "level": level, "previous_score": None, "previous_level": None,
               "computed_at": clock().isoformat()}
    conn.execute(outbox_table.insert().values(
        learner_id=learner_id, role=role, target_kind="role",
        payload=orjson.dumps(payload).decode(), created_at=clock(), status="pending"))


def _targets(**urls: str) -> dict:
    import requests

    tables = {name: {"kind": "webhook", "url": url, "secret": SECRET} for name, url in urls.items()}
    return build_all(tables, TargetContext("http://127.0.0.1:8080", requests.Session()))


def _rows(engine) -> list:
    with database.read(engine) as conn:
        return conn.execute(sa.select(deliveries).order_by(deliveries.c.id)).all()


POLICY = Policy(max_attempts=3, backoff_seconds=10, max_backoff_seconds=100, lease_seconds=60)


def test_changes_fan_out_coalesce_and_arrive_signed(engine, clock, receiver, second_receiver):
    with database.write(engine) as conn:
        ada = _learner(conn, clock, "ada@example.org")
        _change(conn, clock, ada, DIRECTOR, 20.0, "not ready")
        _change(conn, clock, ada, DIRECTOR, 30.0, "emerging")  # replaces the first
        _change(conn, clock, ada, CLO, 10.0, "not ready")
    dispatcher = Dispatcher(engine, _targets(a=receiver.url, b=second_receiver.url), POLICY,
                            clock=clock)
    result = dispatcher.drain()
    assert result.dispatched == 3 and result.delivered == 4
    for got in (receiver, second_receiver):
        assert all(r.signed for r in got.received)
        scores = {(e["readiness"]["role"], e["readiness"]["score"]) for e in got.events()}
        assert scores == {(DIRECTOR, 30.0), (CLO, 10.0)}
        assert {e["learner"]["identifier"] for e in got.events()} == {"mbox:ada@example.org"}
    assert {r.status for r in _rows(engine)} == {"delivered"}
    with database.read(engine) as conn:
        assert outbox.outbox_depth(conn) == 0
    assert dispatcher.drain().attempted == 0  # nothing is sent twice


def test_retry_after_is_honoured_then_dead_letter_then_admin_retry(engine, clock, receiver):
    receiver.answers = [(503, {"Retry-After": "120"}), (500, {}), (502, {})]
    with database.write(engine) as conn:
        _change(conn, clock, _learner(conn, clock, "bo@example.org"), DIRECTOR, 55.0,
                "developing")
    dispatcher = Dispatcher(engine, _targets(hr=receiver.url), POLICY, clock=clock)
    dispatcher.run_once()
    (row,) = _rows(engine)
    assert row.status == "pending" and row.attempts == 1 and "503" in row.last_error
    waited = (row.next_attempt_at - clock()).total_seconds()
    assert 119 <= waited <= 121
    assert dispatcher.run_once().attempted == 0  # not due yet
    clock.advance(121)
    dispatcher.run_once()
    clock.advance(200)
    dispatcher.run_once()
    (row,) = _rows(engine)
    assert row.status == "dead" and row.attempts == 3 and "gave up after 3" in row.last_error
    assert len(receiver.received) == 3
    with database.write(engine) as conn:
        assert outbox.retry(conn, clock(), status="dead") == 1
    dispatcher.run_once()
    (row,) = _rows(engine)
    assert row.status == "delivered" and row.attempts == 1


def test_refusal_is_a_dead_letter_at_once_and_discard_keeps_it(engine, clock, receiver):
    receiver.answers = [(422, {})]
    with database.write(engine) as conn:
        _change(conn, clock, _learner(conn, clock, "cy@example.org"), CLO, 5.0, "not ready")
    Dispatcher(engine, _targets(hr=receiver.url), POLICY, clock=clock).drain()
    (row,) = _rows(engine)
    assert row.status == "dead" and "refused the change (422)" in row.last_error
    with database.write(engine) as conn:
        assert outbox.discard(conn, [row.id], clock()) == 1
        assert outbox.listing(conn, status="discarded")[0]["id"] == row.id


def test_a_target_that_is_down_blocks_nobody(engine, clock, receiver):
    with database.write(engine) as conn:
        for i in range(5):
            _change(conn, clock, _learner(conn, clock, f"p{i}@example.org"), DIRECTOR, 40.0,
                    "emerging")
    down = "http://127.0.0.1:9/hook"  # the discard port: nothing listens there
    dispatcher = Dispatcher(engine, _targets(up=receiver.url, down=down), POLICY, clock=clock)
    dispatcher.run_once()
    by_target = {}
    for row in _rows(engine):
        by_target.setdefault(row.target, []).append(row)
    assert {r.status for r in by_target["up"]} == {"delivered"}
    # the first failure leaves the rest of the round untouched: one attempt, not five
    assert sum(r.attempts for r in by_target["down"]) == 1
    assert {r.status for r in by_target["down"]} == {"pending"}
    assert len(receiver.events()) == 5


def test_backoff_grows_with_jitter_and_is_capped():
    import random

    rng = random.Random(7)
    waits = [backoff(n, POLICY, rng=rng) for n in range(1, 8)]
    assert 5 <= waits[0] <= 10 and 10 <= waits[1] <= 20 and 20 <= waits[2] <= 40
    assert all(50 <= w <= 100 for w in waits[4:])
    assert backoff(1, POLICY, after=300) == 300


def test_a_crash_between_taking_and_acknowledging_redelivers(engine, clock, receiver):
    with database.write(engine) as conn:
        _change(conn, clock, _learner(conn, clock, "di@example.org"), DIRECTOR, 81.0, "ready")
        outbox.fan_out(conn, ["hr"], clock())
    with database.write(engine) as conn:
        (taken,) = outbox.take(conn, "hr", clock(), 60, 10)
    # the worker "dies" here: it never reports. Before the lease ends nobody else takes it…
    dispatcher = Dispatcher(engine, _targets(hr=receiver.url), POLICY, clock=clock)
    assert dispatcher.run_once().attempted == 0
    clock.advance(61)  # …after, another worker does
    assert dispatcher.run_once().delivered == 1
    (row,) = _rows(engine)
    assert row.status == "delivered" and row.attempts == 2
    # the dead worker's late acknowledgement is ignored: it no longer holds the lease
    with database.write(engine) as conn:
        assert outbox.finish(conn, taken, "late", clock()) is False
    assert len(receiver.events()) == 1


def test_a_change_arriving_during_delivery_is_sent_after_it(engine, clock, receiver):
    with database.write(engine) as conn:
        eve = _learner(conn, clock, "eve@example.org")
        _change(conn, clock, eve, DIRECTOR, 30.0, "emerging")
        outbox.fan_out(conn, ["hr"], clock())
    with database.write(engine) as conn:
        (taken,) = outbox.take(conn, "hr", clock(), 60, 10)
    with database.write(engine) as conn:
        _change(conn, clock, eve, DIRECTOR, 60.0, "developing")
        outbox.fan_out(conn, ["hr"], clock())
    with database.write(engine) as conn:
        assert outbox.finish(conn, taken, "sent the older one", clock())
    (row,) = _rows(engine)
    assert row.status == "pending" and row.version == 2
    Dispatcher(engine, _targets(hr=receiver.url), POLICY, clock=clock).drain()
    assert [e["readiness"]["score"] for e in receiver.events()] == [60.0]


class Unknown:
    """A target that knows nobody until told (the LMS side of an unresolved learner)."""

    kind = "test"

    def __init__(self) -> None:
        self.name = "lms"
        self.delivered: list[tuple[str, float]] = []

    def resolve(self, learner):
        return None

    def deliver(self, user_id, change):
        self.delivered.append((user_id, change.score))
        return "updated"

    def check(self):
        return []


def test_unresolved_learners_wait_for_a_link(engine, clock):
    with database.write(engine) as conn:
        fay = _learner(conn, clock, "fay@example.org")
        _change(conn, clock, fay, DIRECTOR, 42.0, "emerging")
    target = Unknown()
    dispatcher = Dispatcher(engine, {"lms": target}, POLICY, clock=clock)
    dispatcher.drain()
    with database.read(engine) as conn:
        (waiting,) = outbox.unresolved(conn)
    assert waiting["learner_id"] == fay and waiting["aliases"][0] == "mbox:fay@example.org"
    with database.write(engine) as conn:
        assert outbox.link_user(conn, "lms", fay, "u-77", clock()) == 1
    dispatcher.drain()
    assert target.delivered == [("u-77", 42.0)]


def test_merged_learners_are_not_delivered(engine, clock, receiver):
    with database.write(engine) as conn:
        gus = _learner(conn, clock, "gus@example.org")
        keep = _learner(conn, clock, "gus2@example.org")
        _change(conn, clock, gus, DIRECTOR, 42.0, "emerging")
        conn.execute(learners.update().where(learners.c.id == gus).values(merged_into=keep))
    Dispatcher(engine, _targets(hr=receiver.url), POLICY, clock=clock).drain()
    (row,) = _rows(engine)
    assert row.status == "discarded" and "merged" in row.last_error
    assert receiver.events() == []


class Flaky(Unknown):
    def resolve(self, learner):
        return f"user-{learner.learner_id}"

    def deliver(self, user_id, change):
        raise Retry("throttled", after=30)


def test_a_target_retry_after_is_kept(engine, clock):
    with database.write(engine) as conn:
        _change(conn, clock, _learner(conn, clock, "hal@example.org"), CLO, 12.0, "not ready")
    Dispatcher(engine, {"lms": Flaky()}, POLICY, clock=clock).run_once()
    (row,) = _rows(engine)
    assert row.status == "pending" and row.last_error == "throttled"
    assert row.next_attempt_at - clock() == timedelta(seconds=30)


def test_two_dispatchers_never_deliver_one_row_twice(engine, clock, receiver):
    with database.write(engine) as conn:
        for i in range(60):
            learner = _learner(conn, clock, f"w{i}@example.org")
            _change(conn, clock, learner, DIRECTOR, float(i), "emerging")
            _change(conn, clock, learner, CLO, float(i), "not ready")
    policy = Policy(max_attempts=3, backoff_seconds=10, lease_seconds=60, batch_size=7)
    workers = [Dispatcher(engine, _targets(hr=receiver.url), policy, clock=clock)
               for _ in range(2)]
    threads = [threading.Thread(target=w.drain) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    deliveries_sent = [(e["learner"]["id"], e["readiness"]["role"]) for e in receiver.events()]
    assert len(deliveries_sent) == 120 and len(set(deliveries_sent)) == 120
    assert {r.status for r in _rows(engine)} == {"delivered"}


def test_webhook_configuration_errors_name_the_field():
    from lrs_connector.lms.config import TargetConfigError, check_all

    with pytest.raises(TargetConfigError, match=r"lms_targets.hr.url"):
        check_all({"hr": {"kind": "webhook", "url": "not a url", "secret": SECRET}})
    with pytest.raises(TargetConfigError, match=r"lms_targets.hr.secret"):
        check_all({"hr": {"kind": "webhook", "url": "http://127.0.0.1/x"}})
    with pytest.raises(TargetConfigError, match=r"lms_targets.hr.kind: must be one of"):
        check_all({"hr": {"kind": "blackboard"}})
    with pytest.raises(TargetConfigError, match=r"lms_targets.hr.colour"):
        check_all({"hr": {"kind": "webhook", "url": "http://127.0.0.1/x", "secret": SECRET,
                          "colour": "red"}})


def test_the_verification_recipe_in_the_docs_accepts_real_deliveries(engine, clock, receiver):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "lms.md").read_text()
    recipe = text.split("```python", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(recipe, scope)  # the snippet an integrator copies
    with database.write(engine) as conn:
        _change(conn, clock, _learner(conn, clock, "ivy@example.org"), CLO, 33.0, "emerging")
    Dispatcher(engine, _targets(hr=receiver.url), POLICY, clock=clock).drain()
    (got,) = receiver.received
    raw = got.raw
    header = got.headers["X-Lrs-Connector-Signature"]
    assert scope["verified"](SECRET, header, raw)
    assert not scope["verified"]("another-secret-entirely", header, raw)
    assert not scope["verified"](SECRET, header, raw.replace(b"33.0", b"99.0"))
