"""Two workers creating the same new learners at once (PostgreSQL, where workers run side by
side): they insert the aliases in one order, so neither waits for the other in a cycle."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from lrs_connector.learners import Identity
from lrs_connector.store import database
from lrs_connector.store import learners as store

ANN = Identity(("mailto:ann@example.org",), "Ann")
BEN = Identity(("mailto:ben@example.org",), "Ben")


def test_overlapping_new_people_in_opposite_orders_do_not_deadlock(engine):
    if not database.is_postgresql(engine):
        pytest.skip("SQLite has one writer at a time")
    now = datetime.now(UTC)
    found: dict[str, object] = {}
    with engine.connect() as first:
        first.begin()
        store.resolve(first, [ANN], now)  # holds Ann's alias until it commits

        def second_worker() -> None:
            try:
                with database.write(engine) as conn:
                    found["second"] = store.resolve(conn, [BEN, ANN], now)
            except Exception as exc:  # a deadlock would be reported here (or below)
                found["error"] = exc

        other = threading.Thread(target=second_worker)
        other.start()
        other.join(1.0)  # it waits for Ann's alias; holding Ben's would close a cycle below
        found["first"] = {**store.resolve(first, [BEN], now), **store.resolve(first, [ANN], now)}
        first.commit()
    other.join(30)
    assert "error" not in found, found.get("error")
    assert found["second"] == found["first"]  # one learner per person, whoever made it
