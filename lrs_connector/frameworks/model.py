"""The competency framework model: what evidence can be *about*, and what roles ask for.

Pure data (frozen dataclasses, no I/O). A framework holds competencies in a hierarchy
(e.g. responsibility → competency), dimensions that cut across that hierarchy (the four
executive-readiness stretches), a proficiency scale, and roles stating which competencies and
dimensions they require, at what proficiency and with what weight. Everything is keyed by IRI:
mapping rules, evidence rows and readiness scores point at competencies and dimensions by IRI.

``links`` and ``case_details`` exist so a 1EdTech CASE package survives a round trip:
associations other than the hierarchy and dimension tags are kept as links, and the CASE
``identifier`` (a UUID) of every node and association, association URIs and the document's
creator are remembered by key (see :mod:`lrs_connector.frameworks.case`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

FORMAT = "lrs-connector/framework"
FORMAT_VERSION = 1


class FrameworkError(ValueError):
    """A framework cannot be used; ``item`` and ``field`` say where the fault is."""

    def __init__(self, message: str, item: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.item = item
        self.field = field

    def __str__(self) -> str:
        parts = (self.item and f"item {self.item}", self.field and f"field {self.field}")
        where = ", ".join(part for part in parts if part)
        return f"{where}: {self.message}" if where else self.message

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "item": self.item, "field": self.field}


@dataclass(frozen=True, slots=True)
class Competency:
    """A node of the hierarchy. ``parent`` is the IRI of the node above (None at the top)."""

    iri: str
    code: str
    name: str
    description: str
    parent: str | None
    kind: str  # "responsibility" | "competency" | "foundational" | any imported item type
    dimensions: tuple[str, ...]  # IRIs of the dimensions this competency feeds


@dataclass(frozen=True, slots=True)
class Dimension:
    """A concern that cuts across the hierarchy (e.g. financial fluency)."""

    iri: str
    code: str
    name: str
    description: str


@dataclass(frozen=True, slots=True)
class ProficiencyLevel:
    value: int
    name: str
    description: str


@dataclass(frozen=True, slots=True)
class Requirement:
    """A role needs ``target`` (a competency or dimension IRI) at ``proficiency``; ``weight``
    says how much it counts towards the role relative to the role's other requirements."""

    target: str
    proficiency: int
    weight: float


@dataclass(frozen=True, slots=True)
class Role:
    iri: str
    code: str
    name: str
    description: str
    requirements: tuple[Requirement, ...]

    def as_dict(self) -> dict[str, Any]:
        """The role as the native document and the CASE extension both write it."""
        return {
            "iri": self.iri,
            "code": self.code,
            "name": self.name,
            "description": self.description,
            "requirements": [
                {"target": q.target, "proficiency": q.proficiency, "weight": q.weight}
                for q in self.requirements
            ],
        }


@dataclass(frozen=True, slots=True)
class Link:
    """Any other relation between two nodes (CASE ``isRelatedTo`` between competencies,
    ``exactMatchOf``, ``precedes`` …). ``target`` may lie outside the framework."""

    source: str
    type: str
    target: str


@dataclass(frozen=True)
class Framework:
    iri: str
    version: str
    name: str
    description: str
    competencies: dict[str, Competency]
    dimensions: dict[str, Dimension]
    scale: tuple[ProficiencyLevel, ...]
    roles: dict[str, Role]
    links: tuple[Link, ...] = ()
    # CASE details by key: node IRI → CASE identifier, association key → identifier, …
    # Empty for frameworks that never came from CASE.
    case_details: dict[str, str] = field(default_factory=dict)

    def target(self, iri: str) -> Competency | Dimension | None:
        """The competency or dimension with this IRI (what rules and requirements point at)."""
        return self.competencies.get(iri) or self.dimensions.get(iri)

    @functools.cached_property
    def _children(self) -> dict[str | None, list[Competency]]:
        index: dict[str | None, list[Competency]] = {}
        for competency in self.competencies.values():
            index.setdefault(competency.parent, []).append(competency)
        return index

    def children(self, iri: str) -> list[Competency]:
        """Direct children of a competency, in framework order."""
        return list(self._children.get(iri, ()))

    def roots(self) -> list[Competency]:
        """Top-level competencies (no parent), in framework order."""
        return list(self._children.get(None, ()))

    def descendants(self, iri: str) -> list[Competency]:
        """Every competency below ``iri``, depth first."""
        out: list[Competency] = []
        for child in self.children(iri):
            out.append(child)
            out.extend(self.descendants(child.iri))
        return out

    def competencies_of(self, dimension_iri: str) -> list[Competency]:
        """Competencies tagged with a dimension."""
        return [c for c in self.competencies.values() if dimension_iri in c.dimensions]

    @property
    def levels(self) -> dict[int, ProficiencyLevel]:
        return {level.value: level for level in self.scale}

    def as_document(self) -> dict[str, Any]:
        """The native JSON document (what ``frameworks.documents`` reads back)."""
        document: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "iri": self.iri,
            "version": self.version,
            "name": self.name,
            "description": self.description,
            "scale": [
                {"value": lv.value, "name": lv.name, "description": lv.description}
                for lv in self.scale
            ],
            "dimensions": [
                {"iri": d.iri, "code": d.code, "name": d.name, "description": d.description}
                for d in self.dimensions.values()
            ],
            "competencies": [
                {
                    "iri": c.iri,
                    "code": c.code,
                    "name": c.name,
                    "description": c.description,
                    "parent": c.parent,
                    "kind": c.kind,
                    "dimensions": list(c.dimensions),
                }
                for c in self.competencies.values()
            ],
            "roles": [r.as_dict() for r in self.roles.values()],
        }
        if self.links:
            document["links"] = [
                {"source": k.source, "type": k.type, "target": k.target} for k in self.links
            ]
        if self.case_details:
            document["case_details"] = dict(self.case_details)
        return document


def association_key(source: str, type_: str, target: str) -> str:
    """The key under which a CASE association's identifier is kept."""
    return f"{type_} {source} {target}"


def build(
    *,
    iri: str,
    version: str,
    name: str,
    description: str,
    competencies: Iterable[Competency],
    dimensions: Iterable[Dimension],
    scale: Iterable[ProficiencyLevel],
    roles: Iterable[Role],
    links: Iterable[Link] = (),
    case_details: dict[str, str] | None = None,
) -> Framework:
    """A framework whose cross-references are checked (raises :class:`FrameworkError`)."""
    framework = Framework(
        iri=iri,
        version=version,
        name=name,
        description=description,
        competencies=_unique(competencies, "competencies"),
        dimensions=_unique(dimensions, "dimensions"),
        scale=tuple(sorted(scale, key=lambda lv: lv.value)),
        roles=_unique(roles, "roles"),
        links=tuple(links),
        case_details=dict(case_details or {}),
    )
    check(framework)
    return framework


def _unique(items: Iterable, kind: str) -> dict:
    out: dict = {}
    for index, item in enumerate(items):
        if item.iri in out:
            raise FrameworkError(f"IRI {item.iri} appears twice", f"{kind}[{index}]", "iri")
        out[item.iri] = item
    return out


def check(framework: Framework) -> None:
    """Raise :class:`FrameworkError` on the first broken reference, duplicate or cycle."""
    if not framework.competencies:
        raise FrameworkError("a framework needs at least one competency", None, "competencies")
    clashes = set(framework.competencies) & set(framework.dimensions)
    if clashes:
        raise FrameworkError(
            "IRI used by both a competency and a dimension", sorted(clashes)[0], "iri"
        )
    values = [lv.value for lv in framework.scale]
    if len(set(values)) != len(values):
        raise FrameworkError("two proficiency levels share a value", "scale", "value")
    for code_kind, items in (
        ("competency", framework.competencies.values()),
        ("dimension", framework.dimensions.values()),
        ("role", framework.roles.values()),
    ):
        seen: dict[str, str] = {}
        for item in items:
            if item.code in seen:
                raise FrameworkError(
                    f"code {item.code!r} is also used by {code_kind} {seen[item.code]}",
                    item.iri,
                    "code",
                )
            seen[item.code] = item.iri
    for c in framework.competencies.values():
        if c.parent is not None and c.parent not in framework.competencies:
            raise FrameworkError(f"parent {c.parent} is not a competency", c.iri, "parent")
        for d in c.dimensions:
            if d not in framework.dimensions:
                raise FrameworkError(f"dimension {d} is not defined", c.iri, "dimensions")
    _check_acyclic(framework)
    levels = set(values)
    for role in framework.roles.values():
        targets: set[str] = set()
        for index, q in enumerate(role.requirements):
            field_name = f"requirements[{index}]"
            if framework.target(q.target) is None:
                raise FrameworkError(
                    f"target {q.target} is neither a competency nor a dimension",
                    role.iri,
                    f"{field_name}.target",
                )
            if q.target in targets:
                raise FrameworkError(
                    f"target {q.target} is required twice", role.iri, f"{field_name}.target"
                )
            targets.add(q.target)
            if levels and q.proficiency not in levels:
                raise FrameworkError(
                    f"proficiency {q.proficiency} is not a level of the scale",
                    role.iri,
                    f"{field_name}.proficiency",
                )
            if not q.weight > 0:
                raise FrameworkError("weight must be above 0", role.iri, f"{field_name}.weight")


def _check_acyclic(framework: Framework) -> None:
    for start in framework.competencies.values():
        seen = {start.iri}
        parent = start.parent
        while parent is not None:
            if parent in seen:
                raise FrameworkError("the hierarchy has a cycle", start.iri, "parent")
            seen.add(parent)
            parent = framework.competencies[parent].parent
