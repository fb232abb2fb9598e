"""Turning a valid statement into what the connector stores: ids, `stored`, `authority`,
`version` and `timestamp` filled in as the xAPI spec asks of a receiver, plus the few fields
that storage indexes (verb, object, registration, voiding target)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import orjson

VOIDED_VERB = "http://adlnet.gov/expapi/verbs/voided"
# Forwarded statements that arrive without an id get a name-based UUID, so that a forwarder
# re-sending the same content is recognised as a duplicate rather than stored twice.
FORWARDED_ID_NAMESPACE = uuid.UUID("7d6c2a8e-4b1f-5c3a-9e0d-2f6b8a1c4e57")


@dataclass(slots=True)
class StatementRecord:
    id: str
    statement: dict
    timestamp: datetime
    verb_id: str
    object_type: str
    object_id: str | None
    registration: str | None
    voids: str | None

    def body(self) -> str:
        return orjson.dumps(self.statement).decode()


@lru_cache(maxsize=64)
def format_instant(moment: datetime) -> str:
    """ISO 8601 in UTC with millisecond precision, the form LRSs use for `stored`.

    Memoised: intake stamps every statement of a request with one instant."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(value: str) -> datetime:
    """A validated xAPI timestamp as an aware datetime (no offset means UTC)."""
    text = value
    if "." in text:
        # datetime only keeps microseconds; xAPI allows any number of fractional digits.
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        text = head + "." + (tail[:digits] + "000000")[:6] + tail[digits:]
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def content_id(statement: dict) -> str:
    """A stable id for a statement that has none: the same content always gets the same id."""
    canonical = orjson.dumps(statement, option=orjson.OPT_SORT_KEYS).decode()
    return str(uuid.uuid5(FORWARDED_ID_NAMESPACE, canonical))


def prepare(
    statement: dict,
    *,
    stored: datetime,
    authority: dict | None,
    default_version: str,
    keep_upstream: bool = False,
    missing_id: str = "random",
) -> StatementRecord:
    """Fill in what a receiver sets and extract the indexed fields.

    `keep_upstream` keeps `stored` and `authority` an upstream LRS already set (forwarding and
    polling), so the stored copy stays the LRS's record; otherwise the connector sets both.
    `missing_id` is "random" (a new UUID) or "content" (see `content_id`).
    """
    if "id" not in statement:
        statement["id"] = str(uuid.uuid4()) if missing_id == "random" else content_id(statement)
    statement["id"] = statement["id"].lower()
    if not (keep_upstream and "stored" in statement):
        statement["stored"] = format_instant(stored)
    if authority is not None and not (keep_upstream and "authority" in statement):
        statement["authority"] = authority
    statement.setdefault("timestamp", statement["stored"])
    statement.setdefault("version", default_version)
    _context_activities_as_lists(statement)

    target = statement["object"]
    object_type = target.get("objectType", "Activity")
    object_id = target.get("id") if object_type in ("Activity", "StatementRef") else None
    verb_id = statement["verb"]["id"]
    context = statement.get("context") or {}
    voids = object_id.lower() if verb_id == VOIDED_VERB and object_type == "StatementRef" else None
    return StatementRecord(
        id=statement["id"],
        statement=statement,
        timestamp=parse_timestamp(statement["timestamp"]),
        verb_id=verb_id,
        object_type=object_type,
        object_id=object_id,
        registration=context.get("registration"),
        voids=voids,
    )


def _context_activities_as_lists(statement: dict) -> None:
    """A single context activity is stored as a one-element list: the form the spec asks an
    LRS to return, so readers only ever see lists."""
    target = statement.get("object")
    nested = (
        target if isinstance(target, dict) and target.get("objectType") == "SubStatement" else None
    )
    for node in (statement, nested):
        context = node.get("context") if node else None
        lists = context.get("contextActivities") if context else None
        if lists:
            for kind, value in lists.items():
                if isinstance(value, dict):
                    lists[kind] = [value]


def source_authority(base_url: str, source_name: str) -> dict:
    """The `authority` the connector sets: the source, as an account on this connector."""
    return {
        "objectType": "Agent",
        "name": source_name,
        "account": {"homePage": base_url, "name": source_name},
    }
