"""Pulling from an LRS into intake: pages, cursor, resumption, voiding, quarantine, leases."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
import sqlalchemy as sa

from lrs_connector.intake.pull import Puller, backoff_seconds, start_thread
from lrs_connector.intake.service import Intake
from lrs_connector.store import database, queue
from lrs_connector.store import pull as pull_store
from lrs_connector.store import statements as store
from lrs_connector.store.pull_tables import pull_sources
from lrs_connector.store.tables import quarantine, statements
from tests.builders import statement, voiding
from tests.pull.fake_lrs import BASE, DribblingLRS, FakeRalph
from tests.waiting import until

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def stored_by_ralph(s: dict, at: datetime) -> dict:
    """What Ralph keeps: `stored` and `timestamp` it set, its authority, no version."""
    return dict(
        s,
        stored=at.isoformat(),
        timestamp=at.isoformat(),
        authority={"mbox": "mailto:lrsuser@example.org", "objectType": "Agent"},
    )


@pytest.fixture
def ralph(monkeypatch):
    monkeypatch.setenv("TEST_RALPH_PASSWORD", "lrspass")
    fake = FakeRalph(max_hits=3)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        yield fake


@pytest.fixture
def source(engine):
    with database.write(engine) as conn:
        return pull_store.add(
            conn,
            "ralph",
            BASE,
            username="lrsuser",
            password_ref="env:TEST_RALPH_PASSWORD",
            page_size=3,
            lookback_seconds=60,
        )


@pytest.fixture
def puller(engine, settings):
    return Puller(engine, Intake.from_settings(engine, settings), owner="test-owner")


def add(ralph: FakeRalph, n: int, start: datetime = T0) -> list[dict]:
    new = [stored_by_ralph(statement(), start + timedelta(seconds=i)) for i in range(n)]
    ralph.statements.extend(new)
    return new


def state(engine, name="ralph") -> pull_store.PullSource:
    with database.read(engine) as conn:
        return pull_store.get(conn, name)


def stored_ids(engine) -> set[str]:
    with database.read(engine) as conn:
        return set(conn.execute(sa.select(statements.c.id)).scalars())


def test_a_pull_follows_more_to_the_end_and_sets_the_cursor(engine, ralph, source, puller):
    from prometheus_client import REGISTRY

    def pulled() -> float:
        return REGISTRY.get_sample_value(
            "lrs_statements_pulled_total", {"source": source.name, "outcome": "stored"}) or 0.0

    sent = add(ralph, 7)
    counted = pulled()
    result = puller.pull(source.id)
    assert result.error is None
    # 3 + 3 + 1 statements; the last page is not full, so it has no `more`.
    assert (result.pages, result.received, result.stored) == (3, 7, 7)
    assert pulled() - counted == 7
    assert stored_ids(engine) == {s["id"] for s in sent}
    after = state(engine)
    assert after.cursor_stored == T0 + timedelta(seconds=6)
    assert after.chain_more is None and after.lease_owner is None
    assert after.pulled_total == 7 and after.last_success_at is not None
    with database.read(engine) as conn:
        via = set(conn.execute(sa.select(statements.c.received_via)).scalars())
        assert via == {"pull"}
        assert queue.depth(conn) == 7
        kept = store.get(conn, sent[0]["id"]).statement
    # The LRS's record is kept: its `stored` and authority.
    assert kept["stored"] == sent[0]["stored"]
    assert kept["authority"] == sent[0]["authority"]


def test_a_page_exactly_full_is_followed_by_ralphs_empty_page(engine, ralph, source, puller):
    add(ralph, 6)
    result = puller.pull(source.id)
    assert (result.pages, result.received) == (3, 6)
    assert ralph.requests[-1].endswith("search_after=" + ralph.statements[-1]["id"])


def test_the_next_pull_asks_since_the_cursor_minus_lookback(engine, ralph, source, puller):
    add(ralph, 2)
    puller.pull(source.id)
    newer = add(ralph, 1, start=T0 + timedelta(minutes=5))
    result = puller.pull(source.id)
    query = parse_qs(urlsplit(ralph.requests[-1]).query)
    assert query["since"] == ["2026-11-28T11:59:01.000Z"]  # cursor 12:00:01 - 60 s
    assert query["ascending"] == ["true"]
    assert (result.received, result.stored, result.duplicates) == (3, 1, 2)
    assert newer[0]["id"] in stored_ids(engine)


def test_overlap_is_harmless(engine, ralph, source, puller):
    add(ralph, 4)
    puller.pull(source.id)
    with database.write(engine) as conn:
        pull_store.reset_cursor(conn, "ralph")
    result = puller.pull(source.id)
    assert (result.received, result.stored, result.duplicates) == (4, 0, 4)
    assert len(stored_ids(engine)) == 4


def test_a_voiding_statement_pulled_later_voids_its_target(engine, ralph, source, puller):
    target = add(ralph, 1)[0]
    puller.pull(source.id)
    ralph.statements.append(stored_by_ralph(voiding(target["id"]), T0 + timedelta(minutes=1)))
    puller.pull(source.id)
    with database.read(engine) as conn:
        assert store.get(conn, target["id"]).voided
        events = conn.execute(
            sa.text("SELECT event FROM processing_queue WHERE statement_id = :id"),
            {"id": target["id"]},
        ).scalars()
        assert sorted(events) == ["stored", "voided"]


def test_a_voiding_statement_pulled_first_voids_the_target_when_it_arrives(
    engine, ralph, source, puller
):
    target = stored_by_ralph(statement(), T0)
    ralph.statements.append(stored_by_ralph(voiding(target["id"]), T0 + timedelta(seconds=1)))
    puller.pull(source.id)
    ralph.statements.insert(0, target)
    with database.write(engine) as conn:
        pull_store.reset_cursor(conn, "ralph")
    puller.pull(source.id)
    with database.read(engine) as conn:
        assert store.get(conn, target["id"]).voided


def test_an_invalid_statement_is_quarantined_and_the_page_still_commits(
    engine, ralph, source, puller
):
    good = add(ralph, 2)
    bad = stored_by_ralph(statement(), T0 + timedelta(seconds=5))
    bad["object"] = {"id": "course-12"}  # not an IRI, as real LMSs send
    ralph.statements.append(bad)
    result = puller.pull(source.id)
    assert (result.stored, result.quarantined) == (2, 1)
    assert stored_ids(engine) == {s["id"] for s in good}
    with database.read(engine) as conn:
        held = conn.execute(sa.select(quarantine.c.statement_id, quarantine.c.problems)).one()
    assert held.statement_id == bad["id"]
    assert held.problems[0]["path"] == "object.id"
    assert state(engine).cursor_stored == T0 + timedelta(seconds=5)


def test_a_statement_nested_too_deep_is_quarantined_not_blocking_the_source(
    engine, ralph, source, puller
):
    deep: dict = {"x": 1}
    for _ in range(40):
        deep = {"n": deep}
    s = stored_by_ralph(statement(), T0)
    s["result"] = {"extensions": {"https://example.org/ext": deep}}
    ralph.statements.append(s)
    add(ralph, 1, start=T0 + timedelta(seconds=1))
    result = puller.pull(source.id)
    assert result.error is None
    assert (result.stored, result.quarantined) == (1, 1)


def test_a_failure_mid_pull_keeps_the_committed_pages_and_resumes(engine, ralph, source, puller):
    sent = add(ralph, 7)
    ralph.on_request = lambda n: (503, b"Service Unavailable") if n == 2 else None
    failed = puller.pull(source.id)
    assert failed.error and "failed (503)" in failed.error
    assert failed.received == 3
    after = state(engine)
    assert after.failures == 1 and "503" in after.last_error
    assert after.cursor_stored is None  # the pull is not complete
    assert after.chain_more and "search_after=" + sent[2]["id"] in after.chain_more
    assert after.chain_stored == T0 + timedelta(seconds=2)
    assert after.next_attempt_at > after.last_error_at
    assert after.lease_owner is None

    resumed = puller.pull(source.id)
    assert resumed.error is None
    assert ralph.requests[-3] == after.chain_more  # resumed where it stopped
    assert (resumed.received, resumed.stored) == (4, 4)
    assert stored_ids(engine) == {s["id"] for s in sent}
    final = state(engine)
    assert final.failures == 0 and final.cursor_stored == T0 + timedelta(seconds=6)


def test_an_expired_more_link_restarts_from_the_cursor(engine, ralph, source, puller):
    sent = add(ralph, 4)
    with database.write(engine) as conn:
        conn.execute(
            pull_sources.update().values(chain_more=BASE + "statements?more=expired-token")
        )
    ralph.fail_next.append((400, b'{"detail": "invalid more token"}'))
    result = puller.pull(source.id)
    assert result.error is None
    assert ralph.requests[0].endswith("more=expired-token")
    assert "since" not in ralph.requests[1]  # from the (empty) cursor: everything
    assert stored_ids(engine) == {s["id"] for s in sent}


def test_wrong_credentials_are_recorded_without_the_password(
    engine, ralph, source, puller, monkeypatch
):
    monkeypatch.setenv("TEST_RALPH_PASSWORD", "wrong-secret-value")
    add(ralph, 1)
    result = puller.pull(source.id)
    assert "refused the credentials (401)" in result.error
    after = state(engine)
    assert "refused the credentials" in after.last_error
    assert "wrong-secret-value" not in repr(after.as_dict())


def test_a_missing_password_variable_is_an_error_naming_the_variable(
    engine, ralph, source, puller, monkeypatch
):
    monkeypatch.delenv("TEST_RALPH_PASSWORD")
    result = puller.pull(source.id)
    assert result.error == "environment variable TEST_RALPH_PASSWORD (password) is not set"
    assert ralph.requests == []


def test_a_password_file_is_read_at_each_pull(engine, ralph, puller, tmp_path):
    secret = tmp_path / "ralph-password"
    secret.write_text("lrspass\n")
    with database.write(engine) as conn:
        source = pull_store.add(
            conn, "by-file", BASE, username="lrsuser", password_ref=f"file:{secret}"
        )
    add(ralph, 1)
    assert puller.pull(source.id).stored == 1


def test_repeated_failures_back_off_up_to_the_maximum():
    assert 54 <= backoff_seconds(60, 0, 900) <= 60
    assert 108 <= backoff_seconds(60, 1, 900) <= 120
    assert 810 <= backoff_seconds(60, 10, 900) <= 900


def test_failures_through_the_puller_wait_longer_each_time_up_to_the_maximum(
    engine, ralph, source, settings
):
    add(ralph, 1)
    ralph.on_request = lambda n: (503, b"Service Unavailable")
    puller = Puller(engine, Intake.from_settings(engine, settings), max_backoff=300)
    waits = []
    for _ in range(5):
        assert puller.pull(source.id).error
        after = state(engine)
        waits.append((after.next_attempt_at - after.last_error_at).total_seconds())
    assert after.failures == 5
    # interval 60 s, doubling, capped at 300 s (each less up to 10 % jitter)
    for wait, full in zip(waits, [60, 120, 240, 300, 300], strict=True):
        assert 0.9 * full <= wait <= full


def test_a_source_being_pulled_elsewhere_is_skipped(engine, ralph, source, settings):
    now = datetime.now(UTC)
    with database.write(engine) as conn:
        assert pull_store.claim(conn, source.id, "other-process", now, 120)
    add(ralph, 1)
    mine = Puller(engine, Intake.from_settings(engine, settings), owner="me")
    result = mine.pull(source.id)
    assert result.busy and ralph.requests == []
    # A crashed holder's lease expires, and the source is taken over.
    with database.write(engine) as conn:
        conn.execute(pull_sources.update().values(lease_until=now - timedelta(seconds=1)))
    assert mine.pull(source.id).stored == 1


def test_a_process_that_lost_its_lease_commits_nothing(engine, ralph, source, settings):
    add(ralph, 2)
    mine = Puller(engine, Intake.from_settings(engine, settings), owner="slow-process")

    def taken_over_meanwhile(n):
        with database.write(engine) as conn:
            conn.execute(pull_sources.update().values(lease_owner="other-process"))

    ralph.on_request = taken_over_meanwhile
    result = mine.pull(source.id)
    assert result.pages == 0
    assert stored_ids(engine) == set()
    assert state(engine).lease_owner == "other-process"


def test_run_once_pulls_every_enabled_source(engine, ralph, source, puller):
    with database.write(engine) as conn:
        pull_store.add(conn, "off", BASE, password_ref="env:TEST_RALPH_PASSWORD")
        pull_store.set_enabled(conn, "off", False)
    add(ralph, 2)
    results = puller.run(threading.Event(), once=True)
    assert [r.source for r in results] == ["ralph"]


def test_run_with_a_name_polls_only_that_source_until_stopped(engine, ralph, puller):
    with database.write(engine) as conn:
        for name in ("alpha", "beta"):
            pull_store.add(conn, name, BASE, username="lrsuser",
                           password_ref="env:TEST_RALPH_PASSWORD")
    add(ralph, 2)
    stop = threading.Event()
    results: list = []
    loop = threading.Thread(target=puller.run, args=(stop,),
                            kwargs={"name": "beta", "on_result": results.append})
    loop.start()
    try:
        deadline = time.monotonic() + 10
        while not results and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)  # time enough to pull any other due source
    finally:
        stop.set()
        loop.join(10)
    assert [r.source for r in results] == ["beta"] and results[0].stored == 2
    assert state(engine, "alpha").last_attempt_at is None
    assert state(engine, "beta").next_attempt_at > datetime.now(UTC)


@pytest.mark.parametrize("once", [False, True], ids=["loop", "once"])
def test_run_with_an_unknown_or_disabled_name_is_refused(engine, source, puller, once):
    """Refused at once: a loop would otherwise wait for a source that is never due."""
    stop = threading.Event()
    threading.Timer(2, stop.set).start()  # ends a loop that was not refused
    with pytest.raises(pull_store.PullSourceError, match="no pull source named 'nope'"):
        puller.run(stop, name="nope", once=once)
    with database.write(engine) as conn:
        pull_store.set_enabled(conn, "ralph", False)
    with pytest.raises(pull_store.PullSourceError, match="pull source 'ralph' is disabled"):
        puller.run(stop, name="ralph", once=once)
    stop.set()


def test_a_dribbling_lrs_fails_the_pull_at_the_timeout_and_the_cursor_stays(engine, puller):
    lrs = DribblingLRS(delay=0.05)
    with database.write(engine) as conn:
        slow = pull_store.add(conn, "slow", lrs.base, timeout_seconds=1)
        conn.execute(pull_sources.update().values(cursor_stored=T0))
    with lrs:
        started = time.monotonic()
        result = puller.pull(slow.id)
        elapsed = time.monotonic() - started
    assert elapsed < 6  # the whole answer would take 12 s
    assert result.error == f"no answer within 1 s from {lrs.base}statements"
    after = state(engine, "slow")
    assert after.last_error == result.error and after.failures == 1
    assert after.cursor_stored == T0 and after.chain_more is None
    assert after.lease_owner is None and after.next_attempt_at > after.last_error_at


def test_absolute_more_links_with_the_default_port_are_followed(engine, puller, monkeypatch):
    """As Learning Locker-like LRSs give them: `https://lrs.test:443/…` for an endpoint without
    a port (one server, written two ways)."""
    monkeypatch.setenv("TEST_RALPH_PASSWORD", "lrspass")
    fake = FakeRalph(max_hits=3, base="https://lrs.test/xAPI/")
    fake.more_origin = "https://LRS.test:443"
    sent = add(fake, 7)
    with database.write(engine) as conn:
        source = pull_store.add(conn, "ll", fake.base, username="lrsuser",
                                password_ref="env:TEST_RALPH_PASSWORD", page_size=3)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        result = puller.pull(source.id)
    assert result.error is None and result.pages == 3
    assert fake.requests[1].startswith("https://lrs.test:443/xAPI/statements?")
    assert stored_ids(engine) == {s["id"] for s in sent}


def test_the_embedded_puller_pulls_due_sources_until_stopped(engine, ralph, source, settings):
    sent = add(ralph, 5)
    before = set(threading.enumerate())
    stop = start_thread(engine, settings)
    try:
        # the pull has ended once the source has its next attempt (a write after the last page)
        assert until(lambda: stored_ids(engine) == {s["id"] for s in sent}
                     and state(engine).next_attempt_at is not None, 30)
    finally:
        stop.set()
        for thread in set(threading.enumerate()) - before:
            thread.join(30)  # nothing may write after the test
    assert state(engine).next_attempt_at > datetime.now(UTC)


def test_a_page_is_validated_before_the_write_turn(engine, ralph, source, puller, monkeypatch):
    """On SQLite a write transaction is the database's one write turn: processing waits through
    it, so the page's statements are checked before it is taken, and only stored within it."""
    if not database.takes_turns(engine):
        pytest.skip("PostgreSQL writers do not take turns")
    writer = database._writer_lock(engine)._thread_lock
    held_while_checking: list[bool] = []
    real = Intake.check

    def check(self, *args, **kwargs):
        held_while_checking.append(writer.locked())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Intake, "check", check)
    sent = add(ralph, 7)
    result = puller.pull(source.id)
    assert result.error is None and result.stored == 7
    assert held_while_checking == [False, False, False]  # one check per page of 3, 3 and 1
    assert stored_ids(engine) == {s["id"] for s in sent}
