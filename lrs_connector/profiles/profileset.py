"""Several loaded profiles that see each other: cross-references, compiled templates and patterns.

Templates and patterns may reuse those of other profiles (structure part 9.0), and templates
name verbs and activity types defined elsewhere, so lookups go through a set, not a profile.
Compilation is lazy and cached: a template is parsed the first time it is used, never again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lrs_connector.profiles.documents import Profile, ProfileError, load_bundled
from lrs_connector.profiles.patterns import (
    CompiledPattern,
    PatternResult,
    compile_pattern,
    match_pattern,
)
from lrs_connector.profiles.templates import (
    INVALID,
    SUCCESS,
    UNMATCHED,
    CompiledTemplate,
    StatementLookup,
    TemplateResult,
    compile_template,
    normalize_statement,
)


@dataclass
class StatementMatch:
    """One statement against many templates.

    ``results`` has every template's own outcome (what evidence mapping uses: a statement is
    attributed to *each* template it succeeds on). ``profiles`` has, per profile, the strict
    result of the spec's ``validates``: ``invalid`` with the failing templates if any applicable
    template failed, else ``success`` with the matching ones, else ``unmatched``.
    """

    results: list[TemplateResult]
    profiles: dict[str, dict[str, Any]]
    statement_id: str | None = None

    @property
    def matched(self) -> list[str]:
        return [r.template_id for r in self.results if r.outcome == SUCCESS]

    def as_dict(self, *, include_unmatched: bool = False) -> dict[str, Any]:
        shown = [r for r in self.results if include_unmatched or r.outcome != UNMATCHED]
        return {
            "statement": self.statement_id,
            "matched": self.matched,
            "profiles": self.profiles,
            "templates": [r.as_dict() for r in shown],
        }


class ProfileSet:
    """Loaded profiles plus id indexes over all of them (first definition wins)."""

    def __init__(self, profiles: Iterable[Profile] = ()) -> None:
        self.profiles: list[Profile] = []
        self._by_id: dict[str, Profile] = {}
        self._concepts: dict[str, tuple[Profile, dict[str, Any]]] = {}
        self._template_nodes: dict[str, tuple[Profile, dict[str, Any]]] = {}
        self._pattern_nodes: dict[str, tuple[Profile, dict[str, Any]]] = {}
        self._templates: dict[str, CompiledTemplate] = {}
        self._patterns: dict[str, CompiledPattern] = {}
        for profile in profiles:
            self.add(profile)

    @classmethod
    def bundled(cls) -> ProfileSet:
        """The profiles shipped in ``xapi_profiles/``."""
        return cls(load_bundled())

    def add(self, profile: Profile) -> None:
        """Add a profile; a profile id (or version id) already present is an error."""
        for key in (profile.id, *profile.version_ids):
            if key in self._by_id:
                raise ProfileError(f"{profile.source}: profile {key} is already loaded")
        self.profiles.append(profile)
        for key in (profile.id, *profile.version_ids):
            self._by_id[key] = profile
        for index, nodes in (
            (self._concepts, profile.concepts),
            (self._template_nodes, profile.templates),
            (self._pattern_nodes, profile.patterns),
        ):
            for node_id, node in nodes.items():
                index.setdefault(node_id, (profile, node))

    # --- lookups -------------------------------------------------------------------------

    def profile(self, profile_id: str) -> Profile:
        """A profile by its id or one of its version ids (KeyError if not loaded)."""
        return self._by_id[profile_id]

    def concept(self, concept_id: str) -> dict[str, Any] | None:
        found = self._concepts.get(concept_id)
        return found[1] if found else None

    def template_node(self, template_id: str) -> dict[str, Any] | None:
        found = self._template_nodes.get(template_id)
        return found[1] if found else None

    def pattern_node(self, pattern_id: str) -> dict[str, Any] | None:
        found = self._pattern_nodes.get(pattern_id)
        return found[1] if found else None

    def owner(self, node_id: str) -> Profile | None:
        """The profile that defines a concept, template or pattern."""
        for index in (self._concepts, self._template_nodes, self._pattern_nodes):
            if node_id in index:
                return index[node_id][0]
        return None

    def template(self, template_id: str) -> CompiledTemplate:
        """The compiled template (KeyError if unknown, ProfileError if it cannot compile)."""
        compiled = self._templates.get(template_id)
        if compiled is None:
            profile, node = self._template_nodes[template_id]
            compiled = compile_template(node, profile.id, self._resolve_template)
            self._templates[template_id] = compiled
        return compiled

    def templates(self, profile_id: str | None = None) -> list[CompiledTemplate]:
        """All templates of one profile (document order), or of every loaded profile."""
        profiles = [self.profile(profile_id)] if profile_id else self.profiles
        return [self.template(t) for p in profiles for t in p.templates]

    def pattern(self, pattern_id: str) -> CompiledPattern:
        """The compiled pattern (KeyError if unknown, ProfileError if broken or cyclic)."""
        compiled = self._patterns.get(pattern_id)
        if compiled is None:
            if pattern_id not in self._pattern_nodes:
                raise KeyError(pattern_id)
            compiled = compile_pattern(pattern_id, self.pattern_node, self._resolve_template)
            self._patterns[pattern_id] = compiled
        return compiled

    def patterns(
        self, profile_id: str | None = None, *, primary_only: bool = False
    ) -> list[CompiledPattern]:
        profiles = [self.profile(profile_id)] if profile_id else self.profiles
        ids = [
            pid
            for p in profiles
            for pid, node in p.patterns.items()
            if not primary_only or node.get("primary") is True
        ]
        return [self.pattern(pid) for pid in ids]

    def _resolve_template(self, template_id: str) -> CompiledTemplate | None:
        if template_id not in self._template_nodes:
            return None
        return self.template(template_id)

    # --- matching ------------------------------------------------------------------------

    def match_statement(
        self,
        statement: dict[str, Any],
        *,
        profile_id: str | None = None,
        template_ids: Sequence[str] | None = None,
        statement_refs: StatementLookup | Mapping[str, dict[str, Any]] | None = None,
    ) -> StatementMatch:
        """Every chosen template's outcome for one statement, plus the per-profile verdict."""
        if template_ids is not None:
            templates = [self.template(t) for t in template_ids]
        else:
            templates = self.templates(profile_id)
        if isinstance(statement, dict):
            statement = normalize_statement(statement)
        results = [t.match(statement, statement_refs) for t in templates]
        by_profile: dict[str, dict[str, Any]] = {}
        for template, result in zip(templates, results, strict=True):
            entry = by_profile.setdefault(
                template.profile_id or "", {"outcome": UNMATCHED, "templates": []}
            )
            if result.outcome == INVALID:
                if entry["outcome"] != INVALID:
                    entry["outcome"], entry["templates"] = INVALID, []
                entry["templates"].append(template.id)
            elif result.outcome == SUCCESS and entry["outcome"] != INVALID:
                entry["outcome"] = SUCCESS
                entry["templates"].append(template.id)
        sid = statement.get("id") if isinstance(statement, dict) else None
        return StatementMatch(results, by_profile, sid if isinstance(sid, str) else None)

    def match_pattern(
        self,
        pattern_id: str,
        statements: Sequence[dict[str, Any]],
        *,
        statement_refs: StatementLookup | Mapping[str, dict[str, Any]] | None = None,
        order_by_timestamp: bool = True,
    ) -> PatternResult:
        return match_pattern(
            self.pattern(pattern_id),
            statements,
            statement_refs=statement_refs,
            order_by_timestamp=order_by_timestamp,
        )
