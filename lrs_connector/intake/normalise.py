"""Named repairs for quarantined statements that real LMSs emit in a broken but fixable form.

An admin picks the repairs when re-admitting (or sets defaults in
`quarantine_normalisations`); each one is a pure function of the statement, so the result can
be shown before anything is stored.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from urllib.parse import quote

from lrs_connector.xapi.records import FORWARDED_ID_NAMESPACE

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_OBJECT_TYPES = {"Activity", "Agent", "Group", "StatementRef", "SubStatement"}


class NormaliseError(ValueError):
    """An unknown normalisation, or one that lacks the setting it needs."""


def _activities(statement: dict) -> Iterator[dict]:
    """Every activity object in a statement, including inside a SubStatement."""
    for holder in (
        statement,
        statement.get("object") if isinstance(statement.get("object"), dict) else None,
    ):
        if not isinstance(holder, dict):
            continue
        target = holder.get("object")
        if isinstance(target, dict) and target.get("objectType", "Activity") == "Activity":
            yield target
        context = holder.get("context")
        lists = context.get("contextActivities") if isinstance(context, dict) else None
        if isinstance(lists, dict):
            for value in lists.values():
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, dict):
                        yield item


def check_iri_base(iri_base: str) -> None:
    """NormaliseError unless `activity-id-to-iri` has an absolute IRI to put in front."""
    if not iri_base or not _SCHEME.match(iri_base):
        raise NormaliseError(
            "activity-id-to-iri needs the setting normalise_activity_iri_base "
            "(an absolute IRI such as https://lms.example.org/activities/)"
        )


def activity_id_to_iri(statement: dict, iri_base: str) -> dict:
    """`course-12` becomes `<iri_base>course-12`; ids that are already IRIs stay."""
    check_iri_base(iri_base)
    for activity in _activities(statement):
        value = activity.get("id")
        if isinstance(value, str) and not _SCHEME.match(value):
            activity["id"] = iri_base + quote(value.strip(), safe="/:@!$&'()*+,;=-._~")
    return statement


def unknown_object_type_to_activity(statement: dict, iri_base: str) -> dict:
    """An object with a made-up objectType ("Course", "Module") is treated as an Activity."""
    target = statement.get("object")
    if isinstance(target, dict) and target.get("objectType") not in _OBJECT_TYPES | {None}:
        target["objectType"] = "Activity"
    return statement


def replace_invalid_id(statement: dict, iri_base: str) -> dict:
    """A statement id that is not a UUID becomes a UUID derived from it (stable on re-forward)."""
    value = statement.get("id")
    if value is not None and not (isinstance(value, str) and _UUID.match(value)):
        statement["id"] = str(uuid.uuid5(FORWARDED_ID_NAMESPACE, f"id:{value}"))
    return statement


def timestamp_assume_utc(statement: dict, iri_base: str) -> dict:
    """A timestamp without a time zone is read as UTC (xAPI 2.0 requires the offset)."""
    value = statement.get("timestamp")
    if isinstance(value, str) and "T" in value and not re.search(r"(Z|z|[+-]\d\d:?\d\d)$", value):
        statement["timestamp"] = value + "Z"
    return statement


NORMALISATIONS: dict[str, Callable[[dict, str], dict]] = {
    "activity-id-to-iri": activity_id_to_iri,
    "unknown-object-type-to-activity": unknown_object_type_to_activity,
    "replace-invalid-id": replace_invalid_id,
    "timestamp-assume-utc": timestamp_assume_utc,
}


def check_names(names: Sequence[str]) -> None:
    unknown = [n for n in names if n not in NORMALISATIONS]
    if unknown:
        raise NormaliseError(
            f"unknown normalisation {', '.join(unknown)}; known: {', '.join(NORMALISATIONS)}"
        )


def apply(statement: object, names: Sequence[str], *, iri_base: str = "") -> object:
    """A repaired copy of `statement`; the held original is never changed."""
    check_names(names)
    if not isinstance(statement, dict):
        return statement
    repaired = copy.deepcopy(statement)
    for name in names:
        repaired = NORMALISATIONS[name](repaired, iri_base)
    return repaired
