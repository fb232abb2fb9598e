"""Small builders for test statements: a valid statement, changed only where a test says."""

from __future__ import annotations

import copy
import uuid

ADL_COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def statement(**changes) -> dict:
    """A valid xAPI 1.0.3 statement; keyword arguments replace top-level properties
    (None removes one)."""
    base = {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "name": "Ada", "mbox": "mailto:ada@example.org"},
        "verb": {"id": ADL_COMPLETED, "display": {"en-US": "completed"}},
        "object": {
            "objectType": "Activity",
            "id": "https://lms.example.org/course/42",
            "definition": {
                "name": {"en-US": "Finance for L&D leaders"},
                "type": "http://adlnet.gov/expapi/activities/course",
            },
        },
        "result": {"completion": True, "success": True, "score": {"scaled": 0.9}},
        "timestamp": "2026-11-20T10:00:00.000Z",
    }
    for key, value in changes.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = copy.deepcopy(value)
    return base


def voiding(target_id: str, **changes) -> dict:
    return statement(
        verb={"id": VOIDED, "display": {"en-US": "voided"}},
        object={"objectType": "StatementRef", "id": target_id},
        result=None,
        **changes,
    )
