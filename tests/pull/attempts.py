"""A pull attempt that failed, recorded as the puller records it, for tests of what admins see."""

from __future__ import annotations

from datetime import datetime

from lrs_connector.store import database
from lrs_connector.store import pull as pull_store


def record_failure(engine, name: str, error: str, now: datetime, retry_after: float = 240):
    """What the puller records after a failed attempt (store.pull.claim, then finish)."""
    with database.write(engine) as conn:
        source = pull_store.get(conn, name)
        assert pull_store.claim(conn, source.id, "test-owner", now, 60)
        pull_store.finish(conn, source.id, "test-owner", now=now, error=error,
                          retry_after=retry_after)
