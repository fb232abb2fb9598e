"""Claiming a periodic job's turn: whoever moves a job's `last_run` to now gets to run it.

The claim is one conditional write, so two workers racing for a due job cannot both win, on
SQLite or PostgreSQL; a job whose run fails waits for its next period.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from lrs_connector.store import database
from lrs_connector.store.schedule_tables import schedule


def claim(engine: Engine, name: str, every: timedelta, now: datetime) -> bool:
    """True when the job ``name`` had not run for ``every`` and this caller now owns this
    run (its last run is recorded as ``now``)."""
    with database.write(engine) as conn:
        claimed = conn.execute(
            sa.update(schedule)
            .where(schedule.c.name == name, schedule.c.last_run <= now - every)
            .values(last_run=now)
        ).rowcount
        if claimed:
            return True
        if conn.execute(sa.select(schedule.c.name).where(schedule.c.name == name)).first():
            return False
        # the first run ever: the row's primary key lets only one inserter through
        dialect = postgresql if database.is_postgresql(conn) else sqlite
        inserted = conn.execute(
            dialect.insert(schedule).values(name=name, last_run=now).on_conflict_do_nothing()
            .returning(schedule.c.name)
        ).first()
        return inserted is not None


def last_run(engine: Engine, name: str) -> datetime | None:
    with database.read(engine) as conn:
        return conn.execute(
            sa.select(schedule.c.last_run).where(schedule.c.name == name)).scalar_one_or_none()
