"""`evidence_item` builds exactly the object `EvidenceItem(...)` does, only faster."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from lrs_connector.readiness.model import EvidenceItem, evidence_item


def test_the_fast_constructor_gives_the_same_frozen_item_field_for_field():
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    values = ("key", "statement", "target", "rule", 3, 1.5, "negative", "practice", 0.7,
              moment, moment + timedelta(days=30))
    fast, regular = evidence_item(*values), EvidenceItem(*values)
    assert type(fast) is EvidenceItem
    assert dataclasses.astuple(fast) == dataclasses.astuple(regular) == values
    assert fast == regular and hash(fast) == hash(regular) and repr(fast) == repr(regular)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.weight = 2.0  # type: ignore[misc]
    assert evidence_item(*values[:-1], None) == EvidenceItem(*values[:-1])
