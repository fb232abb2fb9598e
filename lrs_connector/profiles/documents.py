"""Loading xAPI Profile documents (JSON-LD, read as plain JSON) and the light model over them.

No JSON-LD processing happens: the spec (structure part, section 2.0) says a consumer may read
the compacted JSON as is. A :class:`Profile` keeps the original document and indexes its
concepts, templates and patterns by id; whether the document is *correct* is the job of
:mod:`lrs_connector.profiles.checking`, so loading only fails on things that make the document
unreadable (not JSON, not an object, no string ``id``).
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROFILE_SUFFIXES = (".jsonld", ".json")
BUNDLED_PACKAGE = "xapi_profiles"


class ProfileError(Exception):
    """A profile document cannot be read or a node cannot be used (e.g. unparseable JSONPath)."""


@dataclass(frozen=True)
class Profile:
    """One profile document plus id indexes. ``document`` is the parsed JSON, untouched."""

    id: str
    document: dict[str, Any]
    source: str
    concepts: dict[str, dict[str, Any]] = field(default_factory=dict)
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    patterns: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def version_ids(self) -> list[str]:
        versions = self.document.get("versions")
        if not isinstance(versions, list):
            return []
        return [v["id"] for v in versions if isinstance(v, dict) and isinstance(v.get("id"), str)]

    @property
    def label(self) -> str:
        """A human name: English prefLabel if any, else the first one, else the id."""
        labels = self.document.get("prefLabel")
        if isinstance(labels, dict) and labels:
            value = labels.get("en") or labels.get("en-US") or next(iter(labels.values()))
            if isinstance(value, str):
                return value
        return self.id


def profile_from_document(document: Mapping[str, Any], source: str = "<document>") -> Profile:
    """Build a :class:`Profile` from an already parsed document.

    Duplicate ids keep their first occurrence; the checker reports the duplicates.
    """
    if not isinstance(document, Mapping):
        raise ProfileError(f"{source}: a profile document must be a JSON object")
    document = dict(document)
    profile_id = document.get("id")
    if not isinstance(profile_id, str) or not profile_id:
        raise ProfileError(f"{source}: the profile document has no string 'id'")
    indexes: dict[str, dict[str, dict[str, Any]]] = {}
    for key in ("concepts", "templates", "patterns"):
        index: dict[str, dict[str, Any]] = {}
        nodes = document.get(key)
        if isinstance(nodes, list):
            for node in nodes:
                if isinstance(node, dict) and isinstance(node.get("id"), str):
                    index.setdefault(node["id"], node)
        indexes[key] = index
    return Profile(
        id=profile_id,
        document=document,
        source=source,
        concepts=indexes["concepts"],
        templates=indexes["templates"],
        patterns=indexes["patterns"],
    )


def load_profile(source: str | Path | Mapping[str, Any]) -> Profile:
    """Load one profile from a file path or from an already parsed JSON object."""
    if isinstance(source, Mapping):
        return profile_from_document(source)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return _parse(text, str(path))


def load_profiles(sources: Iterable[str | Path | Mapping[str, Any]]) -> list[Profile]:
    """Load files, folders (every ``*.jsonld`` / ``*.json`` inside, sorted) and documents."""
    profiles: list[Profile] = []
    for source in sources:
        if not isinstance(source, Mapping) and Path(source).is_dir():
            files = sorted(
                p for p in Path(source).iterdir() if p.is_file() and p.suffix in PROFILE_SUFFIXES
            )
            profiles.extend(load_profile(p) for p in files)
        else:
            profiles.append(load_profile(source))
    return profiles


def load_bundled() -> list[Profile]:
    """The profiles shipped as package data in ``xapi_profiles/*.jsonld`` (sorted by name)."""
    root = importlib.resources.files(BUNDLED_PACKAGE)
    # Only .jsonld: the framework (.json) and mapping rules live beside the profiles.
    entries = sorted(
        (e for e in root.iterdir() if e.is_file() and e.name.endswith(".jsonld")),
        key=lambda e: e.name,
    )
    return [_parse(e.read_text(encoding="utf-8"), f"{BUNDLED_PACKAGE}/{e.name}") for e in entries]


def _parse(text: str, source: str) -> Profile:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    return profile_from_document(document, source)
