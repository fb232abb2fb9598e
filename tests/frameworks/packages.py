"""CASE packages written for these tests, shaped like the ones CASE tools publish: URIs under
the publisher's server, codes in humanCodingScheme, item types defined in CFDefinitions,
fields this connector ignores, an item with two parents, a link to another framework."""

from __future__ import annotations

import copy
from typing import Any

SERVER = "https://case.example.org/uri/"
DOC_ID = "c6a1f2b0-1111-4aaa-8bbb-000000000001"
STAMP = "2025-03-01T10:00:00+00:00"


def _node(identifier: str, title: str) -> dict[str, str]:
    return {"title": title, "identifier": identifier, "uri": SERVER + identifier}


def _item(identifier: str, statement: str, code: str | None, item_type: str, **extra) -> dict:
    item: dict[str, Any] = {
        "identifier": identifier,
        "uri": SERVER + identifier,
        "fullStatement": statement,
        "CFItemType": item_type,
        "lastChangeDateTime": STAMP,
        "CFDocumentURI": _node(DOC_ID, "Facilitation skills"),  # ignored by the importer
        **extra,
    }
    if code is not None:
        item["humanCodingScheme"] = code
    return item


AREA = "c6a1f2b0-2222-4aaa-8bbb-000000000001"
PLAN = "c6a1f2b0-2222-4aaa-8bbb-000000000002"
RUN = "c6a1f2b0-2222-4aaa-8bbb-000000000003"
DEBRIEF = "c6a1f2b0-2222-4aaa-8bbb-000000000004"
OTHER_AREA = "c6a1f2b0-2222-4aaa-8bbb-000000000005"
EXTERNAL = "d7000000-0000-4000-8000-000000000009"


def third_party_package() -> dict[str, Any]:
    """A CASE 1.0 package (no caseVersion, no extensions)."""
    return copy.deepcopy(
        {
            "CFDocument": {
                "identifier": DOC_ID,
                "uri": SERVER + DOC_ID,
                "creator": "Example Workforce Board",
                "title": "Facilitation skills",
                "lastChangeDateTime": STAMP,
                "version": "2025.1",
                "adoptionStatus": "Adopted",
                "description": "Skills of people who run workshops.",
            },
            "CFItems": [
                _item(AREA, "Running workshops", "F", "Area"),
                _item(
                    PLAN,
                    "Plans a session from its goals, audience and time available.",
                    "F.1",
                    "Skill",
                    abbreviatedStatement="Session planning",
                ),
                _item(RUN, "Keeps a group engaged and on time.", "F.2", "Skill"),
                _item(DEBRIEF, "Closes a session with a debrief.", None, "Skill"),
                _item(OTHER_AREA, "Coaching", "C", "Area"),
            ],
            "CFAssociations": [
                _assoc("a1", AREA, "isChildOf", DOC_ID, 1),
                _assoc("a2", PLAN, "isChildOf", AREA, 1),
                _assoc("a3", RUN, "isChildOf", AREA, 2),
                _assoc("a4", DEBRIEF, "isChildOf", AREA, 3),
                _assoc("a5", OTHER_AREA, "isChildOf", DOC_ID, 2),
                _assoc("a6", DEBRIEF, "isChildOf", OTHER_AREA, 1),  # a second parent
                _assoc("a7", RUN, "isRelatedTo", PLAN),
                _assoc("a8", PLAN, "exactMatchOf", EXTERNAL, title="Lesson planning"),
            ],
            "CFDefinitions": {
                "CFItemTypes": [
                    {
                        "identifier": "e0000000-0000-4000-8000-000000000001",
                        "uri": SERVER + "e0000000-0000-4000-8000-000000000001",
                        "title": "Skill",
                        "description": "A skill",
                        "hierarchyCode": "1",
                        "lastChangeDateTime": STAMP,
                    }
                ],
                "CFSubjects": [],
            },
        }
    )


def _assoc(
    suffix: str,
    origin: str,
    kind: str,
    destination: str,
    sequence: int | None = None,
    title: str = "node",
) -> dict[str, Any]:
    identifier = f"b0000000-0000-4000-8000-0000000000{suffix[1:].zfill(2)}"
    association = {
        "identifier": identifier,
        "uri": SERVER + identifier,
        "associationType": kind,
        "originNodeURI": _node(origin, "node"),
        "destinationNodeURI": _node(destination, title),
        "lastChangeDateTime": STAMP,
    }
    if destination == EXTERNAL:
        association["destinationNodeURI"]["uri"] = "https://other.example.net/uri/" + EXTERNAL
    if sequence is not None:
        association["sequenceNumber"] = sequence
    return association


def without_timestamps(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_timestamps(v) for k, v in value.items() if k != "lastChangeDateTime"}
    if isinstance(value, list):
        return [without_timestamps(v) for v in value]
    return value
