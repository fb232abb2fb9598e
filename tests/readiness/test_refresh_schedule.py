"""The periodic readiness refresh: one claim per period across workers, taken by an idle
processing loop."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from lrs_connector import demo, processing
from lrs_connector.store import database, schedule
from lrs_connector.store.readiness_tables import readiness_roles
from tests.waiting import until


def test_a_job_is_claimed_once_per_period(engine):
    start = datetime(2026, 11, 1, 8, tzinfo=UTC)
    hour = timedelta(hours=1)
    assert schedule.claim(engine, "job", hour, start)
    assert not schedule.claim(engine, "job", hour, start + hour / 2)
    assert schedule.claim(engine, "job", hour, start + hour)
    assert schedule.last_run(engine, "job") == start + hour
    assert schedule.last_run(engine, "other") is None


def test_racing_workers_get_one_turn(engine):
    moment = datetime(2026, 11, 2, 8, tzinfo=UTC)
    barrier = threading.Barrier(4)
    won: list[bool] = []

    def worker() -> None:
        barrier.wait()
        won.append(schedule.claim(engine, "race", timedelta(hours=1), moment))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False, False, False, True]


def test_an_idle_processing_loop_runs_the_refresh_when_due(engine, settings):
    demo.load(engine, settings, echo=lambda _: None)
    with database.read(engine) as conn:
        learner, role, score = conn.execute(
            sa.select(readiness_roles.c.learner_id, readiness_roles.c.role,
                      readiness_roles.c.score).limit(1)).one()
    # a stored score out of date (as one is after months without statements)
    with database.write(engine) as conn:
        conn.execute(sa.update(readiness_roles).where(
            readiness_roles.c.learner_id == learner, readiness_roles.c.role == role
        ).values(score=score + 5.0))
    stop = threading.Event()
    loop = threading.Thread(target=processing.run, args=(engine,), kwargs=dict(
        batch_size=10, idle_seconds=0.05, stop=stop, refresh_hours=24.0))
    loop.start()
    try:
        ran = until(lambda: schedule.last_run(engine, "readiness-refresh"), 30)
    finally:
        stop.set()
        loop.join(30)
    assert ran is not None and abs(datetime.now(UTC) - ran) < timedelta(minutes=1)
    with database.read(engine) as conn:
        stored = conn.execute(sa.select(readiness_roles.c.score).where(
            readiness_roles.c.learner_id == learner, readiness_roles.c.role == role)).scalar_one()
    assert abs(stored - score) < 0.1  # rolled up again from the stored cells
    assert not processing.refresh_if_due(engine, 24.0)  # the day's turn is taken
