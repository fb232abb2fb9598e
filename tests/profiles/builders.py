"""Small, valid profile documents and statements for tests (our own IRIs under example.org)."""

from __future__ import annotations

import copy
from typing import Any

BASE = "https://example.org/xapi"
PROFILE_ID = f"{BASE}/profiles/test"
VERSION = f"{PROFILE_ID}/v1"


def verb(name: str) -> str:
    return f"{BASE}/verbs/{name}"


def atype(name: str) -> str:
    return f"{BASE}/activity-types/{name}"


def tid(name: str) -> str:
    return f"{BASE}/templates/{name}"


def pid(name: str) -> str:
    return f"{BASE}/patterns/{name}"


def concept(kind: str, iri: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": iri,
        "type": kind,
        "inScheme": VERSION,
        "prefLabel": {"en": iri.rsplit("/", 1)[-1]},
        "definition": {"en": f"Test {kind} {iri}"},
        **extra,
    }


def template(name: str, **props: Any) -> dict[str, Any]:
    return {
        "id": tid(name),
        "type": "StatementTemplate",
        "inScheme": VERSION,
        "prefLabel": {"en": name},
        "definition": {"en": f"Test template {name}"},
        **props,
    }


def pattern(name: str, kind: str, members: Any, primary: bool = False) -> dict[str, Any]:
    node: dict[str, Any] = {"id": pid(name), "type": "Pattern", "inScheme": VERSION, kind: members}
    if primary:
        node.update(primary=True, prefLabel={"en": name}, definition={"en": f"Pattern {name}"})
    return node


VERBS = ["did", "started", "finished", "paused"]
TYPES = ["task", "course", "program", "cat", "tag", "other", "parent"]


def profile_doc(
    templates: list[dict[str, Any]] | None = None,
    patterns: list[dict[str, Any]] | None = None,
    concepts: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A profile that passes strict checking when its templates and patterns are sound."""
    doc: dict[str, Any] = {
        "@context": "https://w3id.org/xapi/profiles/context",
        "id": PROFILE_ID,
        "type": "Profile",
        "conformsTo": "https://w3id.org/xapi/profiles#1.0",
        "prefLabel": {"en": "Test profile"},
        "definition": {"en": "A profile written for the connector's tests."},
        "versions": [{"id": VERSION, "generatedAtTime": "2025-01-01T00:00:00Z"}],
        "author": {"type": "Organization", "name": "lrs-connector tests"},
        "concepts": concepts
        if concepts is not None
        else [concept("Verb", verb(v)) for v in VERBS]
        + [concept("ActivityType", atype(t)) for t in TYPES]
        + [concept("AttachmentUsageType", f"{BASE}/attachment-usage/evidence")],
    }
    if templates:
        doc["templates"] = templates
    if patterns:
        doc["patterns"] = patterns
    doc.update(overrides)
    return copy.deepcopy(doc)


def statement(
    verb_name: str = "did",
    object_type: str | None = "task",
    sid: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A statement with our verb and object activity type; ``extra`` adds top-level keys."""
    obj: dict[str, Any] = {"objectType": "Activity", "id": f"{BASE}/activities/a1"}
    if object_type:
        obj["definition"] = {"type": atype(object_type)}
    st: dict[str, Any] = {
        "actor": {"mbox": "mailto:ana@example.org"},
        "verb": {"id": verb(verb_name)},
        "object": obj,
    }
    if sid:
        st["id"] = sid
    st.update(extra)
    return st
