"""The data of readiness scoring: evidence items in, parameters, and results out.

Pure data (frozen dataclasses, no I/O). ``EvidenceItem`` is this package's own view of an
evidence row, so scoring does not depend on how the mapping stage stores its rows
(``lrs_connector.store.readiness`` adapts them). docs/scoring.md states the model.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

POSITIVE = "positive"
NEGATIVE = "negative"

# Readiness levels, lowest first; the first applies below every threshold.
DEFAULT_LEVELS: tuple[tuple[str, float], ...] = (
    ("not ready", 0.0),
    ("emerging", 25.0),
    ("developing", 50.0),
    ("ready", 80.0),
)
DEFAULT_KIND_WEIGHTS: dict[str, float] = {"knowledge": 0.75, "practice": 1.0, "feedback": 1.0}


class ModelError(ValueError):
    """Scoring parameters that cannot be used; ``field`` names the parameter."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    """One piece of evidence about one learner and one target (competency or dimension)."""

    key: str
    statement_id: str
    target: str
    rule_id: str
    rule_version: int
    weight: float
    polarity: str  # "positive" | "negative"
    kind: str  # "knowledge" | "practice" | "feedback" (others get the default kind weight)
    confidence: float
    timestamp: datetime
    valid_until: datetime | None = None


_ITEM_FIELDS = tuple(getattr(EvidenceItem, f.name).__set__ for f in fields(EvidenceItem))


def evidence_item(
    key: str, statement_id: str, target: str, rule_id: str, rule_version: int, weight: float,
    polarity: str, kind: str, confidence: float, timestamp: datetime,
    valid_until: datetime | None,
) -> EvidenceItem:
    """``EvidenceItem(...)`` (the same object), three times faster: a frozen dataclass's
    ``__init__`` assigns each field through ``object.__setattr__``, and storage builds one per
    evidence row it reads, thousands per processing batch; this sets the slots directly."""
    item = object.__new__(EvidenceItem)
    (set_key, set_statement, set_target, set_rule, set_version, set_weight, set_polarity,
     set_kind, set_confidence, set_timestamp, set_until) = _ITEM_FIELDS
    set_key(item, key)
    set_statement(item, statement_id)
    set_target(item, target)
    set_rule(item, rule_id)
    set_version(item, rule_version)
    set_weight(item, weight)
    set_polarity(item, polarity)
    set_kind(item, kind)
    set_confidence(item, confidence)
    set_timestamp(item, timestamp)
    set_until(item, valid_until)
    return item


@dataclass(frozen=True)
class ScoringModel:
    """The parameters of the model (defaults as in docs/scoring.md).

    * ``half_life_days``: evidence counts half as much after this many days.
    * ``half_strength``: the evidence strength that takes a learner half way to the top of the
      scale; every further ``half_strength`` halves the remaining distance.
    * ``kind_weights``: multiplier per evidence kind; ``other_kind_weight`` for unknown kinds.
    * ``levels``: (name, lowest score) pairs, the first with lowest score 0.
    """

    half_life_days: float = 365.0
    half_strength: float = 2.0
    kind_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_KIND_WEIGHTS))
    other_kind_weight: float = 0.5
    levels: tuple[tuple[str, float], ...] = DEFAULT_LEVELS

    def __post_init__(self) -> None:
        if not (1.0 <= self.half_life_days <= 36_500.0):
            raise ModelError("must be between 1 and 36500 days", "half_life_days")
        if not (0.001 <= self.half_strength <= 1_000.0):
            raise ModelError("must be between 0.001 and 1000", "half_strength")
        for kind, weight in [*self.kind_weights.items(), ("other", self.other_kind_weight)]:
            if not (0.0 <= weight <= 10.0):
                raise ModelError(
                    f"weight of kind {kind!r} must be between 0 and 10", "kind_weights"
                )
        if not self.levels or self.levels[0][1] != 0.0:
            raise ModelError("the first level must start at 0", "levels")
        bounds = [bound for _, bound in self.levels]
        if any(b >= a for a, b in zip(bounds[1:], bounds, strict=False)) or bounds[-1] > 100:
            raise ModelError("thresholds must rise strictly and stay within 0..100", "levels")
        names = [name for name, _ in self.levels]
        if len(set(names)) != len(names) or not all(names):
            raise ModelError("level names must be non-empty and distinct", "levels")

    @functools.cached_property
    def half_life_us(self) -> int:
        """The half-life in whole microseconds (time is integer microseconds, so exact)."""
        return round(self.half_life_days * 86_400_000_000)

    def kind_weight(self, kind: str) -> float:
        return self.kind_weights.get(kind, self.other_kind_weight)

    def level(self, score: float) -> str:
        """The name of the highest level whose threshold ``score`` reaches."""
        name = self.levels[0][0]
        for candidate, bound in self.levels:
            if score >= bound:
                name = candidate
        return name

    def describe(self) -> dict[str, Any]:
        return {
            "half_life_days": self.half_life_days,
            "half_strength": self.half_strength,
            "kind_weights": dict(sorted(self.kind_weights.items())),
            "other_kind_weight": self.other_kind_weight,
            "levels": [{"name": n, "from": b} for n, b in self.levels],
        }


def _name_value(entry: str, expected: str, field: str, *, last: bool) -> tuple[str, float]:
    """``"name=number"``, split at the first ``=`` or (when names may hold one) the last."""
    name, sep, raw = entry.rpartition("=") if last else entry.partition("=")
    try:
        value = float(raw)
    except ValueError:
        value = None
    if not sep or not name.strip() or value is None:
        raise ModelError(f"expected {expected}, got {entry!r}", field)
    return name.strip(), value


def parse_kind_weights(entries: tuple[str, ...] | list[str]) -> dict[str, float]:
    """``("knowledge=0.75", "practice=1")`` → ``{"knowledge": 0.75, "practice": 1.0}``."""
    return dict(_name_value(entry, "kind=number", "kind_weights", last=False) for entry in entries)


def parse_levels(entries: tuple[str, ...] | list[str]) -> tuple[tuple[str, float], ...]:
    """``("emerging=25", "developing=50", "ready=80")`` plus the level below them all,
    named by an entry ``"not ready=0"`` (default name "not ready")."""
    levels = dict(_name_value(entry, "name=threshold", "levels", last=True) for entry in entries)
    ordered = sorted(levels.items(), key=lambda item: item[1])
    if not ordered or ordered[0][1] != 0.0:
        ordered.insert(0, ("not ready", 0.0))
    return tuple(ordered)


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemScore:
    """What one evidence item adds at the moment of scoring."""

    item: EvidenceItem
    decay: float  # 2^(-age / half-life)
    strength: float  # signed: weight · confidence · kind weight · decay
    contribution: float  # share of the cell's proficiency (signed; they add up to it)


@dataclass(frozen=True, slots=True)
class CellScore:
    """A learner's proficiency on one target from that target's own evidence."""

    target: str
    proficiency: float
    strength: float  # net evidence strength (may be below 0; proficiency is then 0)
    items: tuple[ItemScore, ...]
    next_change: datetime | None  # when an item expires or a future-dated one starts counting
    counted: int = 0  # how many items count (``items`` may hold only the strongest of them)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_settings(settings: Any) -> ScoringModel:
    """The model the ``readiness_*`` settings describe (ModelError names the setting)."""
    try:
        weights = parse_kind_weights(settings.readiness_kind_weights)
        levels = parse_levels(settings.readiness_levels)
    except ModelError as exc:
        raise ModelError(exc.message, f"readiness_{exc.field}") from None
    try:
        return ScoringModel(
            half_life_days=settings.readiness_half_life_days,
            half_strength=settings.readiness_half_strength,
            kind_weights=weights,
            levels=levels,
        )
    except ModelError as exc:
        raise ModelError(exc.message, f"readiness_{exc.field}") from None
