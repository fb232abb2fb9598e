"""Patterns: does an ordered series of statements (one registration) follow a pattern?

Matching is greedy without backtracking, as the communication part (2.2) requires: every
``optional``, ``zeroOrMore``, ``oneOrMore`` and ``alternates`` takes the longest match it can
before anything later in a sequence is considered. A member that *fails* gives its statements
back (that is not backtracking: nothing was committed), but a member that succeeds keeps them,
so ``sequence[zeroOrMore(A), A]`` can never match ``[A, A]``. Profile authors must design
around this; :func:`match_pattern` reports what the spec says, not what was meant.

A statement "is" template T when T's own outcome is ``success`` (see templates.py); other
templates the statement may fail do not matter here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lrs_connector.profiles.documents import ProfileError
from lrs_connector.profiles.templates import CompiledTemplate, StatementLookup

MATCH = "match"
PARTIAL = "partial"
NO_MATCH = "no-match"
PATTERN_KINDS = ("sequence", "alternates", "optional", "oneOrMore", "zeroOrMore")

_S, _P, _F = "success", "partial", "failure"  # internal outcomes of one element


class PatternNode:
    """A pattern with its members resolved to nodes or compiled templates."""

    __slots__ = ("id", "kind", "members")

    def __init__(self, pattern_id: str, kind: str) -> None:
        self.id = pattern_id
        self.kind = kind
        self.members: tuple[PatternNode | CompiledTemplate, ...] = ()

    def __repr__(self) -> str:
        return f"PatternNode({self.id!r}, {self.kind})"


@dataclass(frozen=True)
class CompiledPattern:
    """A pattern tree ready to match; build it with :func:`compile_pattern`."""

    id: str
    root: PatternNode
    primary: bool
    #: Every template the pattern can reach, by id.
    templates: Mapping[str, CompiledTemplate]


@dataclass
class PatternResult:
    """``status`` is ``match``, ``partial`` (a valid prefix, more statements expected) or
    ``no-match``. ``failed_at`` indexes the caller's list; ``expected`` names the templates
    the pattern tried at that point (for ``partial``: those it could accept next)."""

    pattern_id: str
    status: str
    matched: int  # statements consumed by the pattern
    failed_at: int | None = None
    statement_id: str | None = None
    expected: list[str] = field(default_factory=list)
    detail: str = ""
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pattern": self.pattern_id,
            "status": self.status,
            "matched": self.matched,
            "detail": self.detail,
        }
        if self.failed_at is not None:
            out["failed_at"] = self.failed_at
            out["statement_id"] = self.statement_id
        if self.expected:
            out["expected"] = self.expected
        if self.notes:
            out["notes"] = self.notes
        return out


def compile_pattern(
    pattern_id: str,
    find_pattern: Callable[[str], Mapping[str, Any] | None],
    find_template: Callable[[str], CompiledTemplate | None],
) -> CompiledPattern:
    """Resolve a pattern and everything under it. Raises ProfileError on unknown members,
    malformed patterns and cycles (a pattern inside itself at any depth)."""
    built: dict[str, PatternNode] = {}
    templates: dict[str, CompiledTemplate] = {}
    visiting: list[str] = []

    def build(node_id: str) -> PatternNode:
        if node_id in visiting:
            cycle = " -> ".join([*visiting[visiting.index(node_id) :], node_id])
            raise ProfileError(f"pattern cycle: {cycle}")
        if node_id in built:
            return built[node_id]
        raw = find_pattern(node_id)
        if raw is None:
            raise ProfileError(f"unknown pattern {node_id}")
        kinds = [k for k in PATTERN_KINDS if k in raw]
        if len(kinds) != 1:
            raise ProfileError(
                f"pattern {node_id}: needs exactly one of {', '.join(PATTERN_KINDS)}, "
                f"has {kinds or 'none'}"
            )
        kind = kinds[0]
        value = raw[kind]
        member_ids = value if isinstance(value, list) else [value]
        if not member_ids or not all(isinstance(m, str) for m in member_ids):
            raise ProfileError(f"pattern {node_id}: '{kind}' must name templates or patterns")
        node = PatternNode(node_id, kind)
        visiting.append(node_id)
        members: list[PatternNode | CompiledTemplate] = []
        for member_id in member_ids:
            template = find_template(member_id)
            if template is not None:
                templates[member_id] = template
                members.append(template)
            elif find_pattern(member_id) is not None:
                members.append(build(member_id))
            else:
                raise ProfileError(
                    f"pattern {node_id}: member {member_id} is neither a template nor a pattern"
                )
        visiting.pop()
        node.members = tuple(members)
        built[node_id] = node
        return node

    raw = find_pattern(pattern_id)
    root = build(pattern_id)
    return CompiledPattern(pattern_id, root, bool(raw and raw.get("primary") is True), templates)


def match_pattern(
    pattern: CompiledPattern,
    statements: Sequence[dict[str, Any]],
    *,
    statement_refs: StatementLookup | Mapping[str, dict[str, Any]] | None = None,
    order_by_timestamp: bool = True,
) -> PatternResult:
    """Match statements of one registration against ``pattern``.

    With ``order_by_timestamp`` (the spec's rule for stored statements) the series is sorted
    by ``timestamp``, keeping input order among equal timestamps; if any timestamp is missing
    or unreadable the input order is used and a note says so. Indexes in the result always
    refer to the caller's list.
    """
    notes: list[str] = []
    order = list(range(len(statements)))
    if order_by_timestamp and statements:
        keys = [_timestamp(s) for s in statements]
        if any(k is None for k in keys):
            notes.append("some statements lack a readable timestamp; input order used")
        else:
            order.sort(key=lambda i: keys[i])
    ordered = [statements[i] for i in order]
    run = _Run(ordered, statement_refs)
    status, consumed = run.match(pattern.root, 0)
    n = len(ordered)

    def at(position: int) -> tuple[int | None, str | None]:
        if position >= n:
            return None, None
        statement = ordered[position]
        sid = statement.get("id") if isinstance(statement, dict) else None
        return order[position], sid if isinstance(sid, str) else None

    if status == _S and consumed == n:
        return PatternResult(
            pattern.id, MATCH, n, detail="all statements follow the pattern", notes=notes
        )
    if status == _P:
        return PatternResult(
            pattern.id,
            PARTIAL,
            n,
            expected=run.expected_at(n),
            notes=notes,
            detail="the statements are a valid beginning; the pattern expects more",
        )
    if status == _S:
        failed_at, sid = at(consumed)
        expected = run.expected_at(consumed)
        return PatternResult(
            pattern.id,
            NO_MATCH,
            consumed,
            failed_at,
            sid,
            expected,
            notes=notes,
            detail=f"the pattern ended after {consumed} statement(s); the next one does not "
            "continue it" + ("" if expected else " (nothing more is allowed)"),
        )
    furthest = max(run.failures) if run.failures else 0
    failed_at, sid = at(furthest)
    return PatternResult(
        pattern.id,
        NO_MATCH,
        0,
        failed_at,
        sid,
        run.expected_at(furthest),
        notes=notes,
        detail=f"statement {furthest} (in timestamp order) is none of the expected templates",
    )


class _Run:
    """One matching run: caches template outcomes and sub-results, records failure points."""

    def __init__(
        self,
        statements: list[dict[str, Any]],
        refs: StatementLookup | Mapping[str, dict[str, Any]] | None,
    ) -> None:
        self.statements = statements
        self.n = len(statements)
        self.refs = refs
        self.outcomes: dict[tuple[int, str], bool] = {}
        self.memo: dict[tuple[int, int], tuple[str, int]] = {}
        #: statement position -> template ids tried there without success
        self.failures: dict[int, set[str]] = {}
        self.tried_at_end: set[str] = set()

    def expected_at(self, position: int) -> list[str]:
        if position >= self.n:
            return sorted(self.tried_at_end)
        return sorted(self.failures.get(position, ()))

    def is_template(self, position: int, template: CompiledTemplate) -> bool:
        key = (position, template.id)
        ok = self.outcomes.get(key)
        if ok is None:
            ok = template.match(self.statements[position], self.refs).success
            self.outcomes[key] = ok
        return ok

    def match(self, element: PatternNode | CompiledTemplate, pos: int) -> tuple[str, int]:
        n = self.n
        if isinstance(element, CompiledTemplate):
            if pos >= n:
                self.tried_at_end.add(element.id)
                return _P, n
            if self.is_template(pos, element):
                return _S, pos + 1
            self.failures.setdefault(pos, set()).add(element.id)
            return _F, pos
        key = (id(element), pos)
        cached = self.memo.get(key)
        if cached is not None:
            return cached
        result = getattr(self, "_" + element.kind)(element.members, pos)
        self.memo[key] = result
        return result

    def _sequence(self, members: tuple[Any, ...], pos: int) -> tuple[str, int]:
        p = pos
        for member in members:
            status, p = self.match(member, p)
            if status == _F:
                return _F, pos
            if status == _P:
                return _P, self.n
        return _S, p

    def _alternates(self, members: tuple[Any, ...], pos: int) -> tuple[str, int]:
        # Longest wins (prose: "maximum length possible"). A partial alternative has used
        # every statement, so it beats a shorter success; a success that also used every
        # statement beats it, because the series already is complete.
        best = -1
        partial = False
        for member in members:
            status, p = self.match(member, pos)
            if status == _S:
                best = max(best, p)
            elif status == _P:
                partial = True
        if best == self.n:
            return _S, best
        if partial:
            return _P, self.n
        if best >= 0:
            return _S, best
        return _F, pos

    def _optional(self, members: tuple[Any, ...], pos: int) -> tuple[str, int]:
        if pos >= self.n:
            self.match(members[0], pos)  # records what could still come
            return _S, pos
        status, p = self.match(members[0], pos)
        if status == _F:
            return _S, pos
        return status, p

    def _zeroOrMore(self, members: tuple[Any, ...], pos: int) -> tuple[str, int]:
        return self._repeat(members[0], pos)

    def _oneOrMore(self, members: tuple[Any, ...], pos: int) -> tuple[str, int]:
        status, p = self.match(members[0], pos)
        if status != _S:
            return status, p
        if p == pos:
            return _S, p
        return self._repeat(members[0], p)

    def _repeat(self, member: Any, pos: int) -> tuple[str, int]:
        p = pos
        while True:
            if p >= self.n:
                self.match(member, p)  # records what could still come
                return _S, p
            status, nxt = self.match(member, p)
            if status == _F:
                return _S, p
            if status == _P:
                return _P, self.n
            if nxt == p:  # the member matched nothing: stop rather than loop forever
                return _S, p
            p = nxt


def _timestamp(statement: Any) -> datetime | None:
    value = statement.get("timestamp") if isinstance(statement, dict) else None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
