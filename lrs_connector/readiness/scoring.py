"""Readiness scoring: proficiency per target from evidence, roll-up to roles, next steps.

The arithmetic is arranged so the properties docs/scoring.md promises hold exactly in floating
point, not only on paper:

* time is integer microseconds; a moment ``t`` is split into ``q`` whole half-lives and a
  remainder, so ``2^(t/h) = 2^q · 2^(rem/h)`` and powers of two scale exactly;
* a cell's evidence is summed exactly, as an integer count of ``2^-EXACT_BITS`` units (every
  item's scaled strength is a float, so a dyadic rational), into a total that does not depend
  on the moment of scoring nor on the order of the items; the moment only multiplies that total
  by ``2^(-(at)/h)``, a factor that falls as time passes. Because the sum is exact, new evidence
  is added to a stored cell without reading the old (``add_to_state``) and the result is the
  same float as summing everything again;
* every later step (the saturating curve, means, minimums, weighted sums) is monotone.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from lrs_connector.frameworks.model import Framework, Role
from lrs_connector.readiness.model import (
    EPOCH,
    NEGATIVE,
    POSITIVE,
    CellScore,
    EvidenceItem,
    ItemScore,
    ScoringModel,
)

MAX_WEIGHT = 1_000.0
MIN_STRENGTH = 1e-9  # items weaker than this (before decay) count as nothing
MAX_SPREAD = 1_000  # items over 1,000 half-lives older than a cell's newest count as nothing
# Units of the exact sums: 2^-128. A counted item's scaled strength is at least MIN_STRENGTH
# (2^-29.9) with a 53-bit mantissa, so its lowest bit is above 2^-83: every one is whole.
EXACT_BITS = 128
_LN2 = math.log(2.0)
_MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """Whole microseconds since 1970-01-01 UTC (an aware datetime)."""
    return (moment - EPOCH) // _MICROSECOND


class CellState(NamedTuple):
    """What a cell's proficiency at any moment depends on, while no item starts or expires.

    ``exact`` is the exact sum of the counted items' strengths scaled to ``2^(t_i/h - low)``,
    in units of ``2^-EXACT_BITS``, where ``low`` is the whole half-lives of the oldest counted
    item; ``total`` is that sum scaled to ``2^(t_i/h - scale)`` (``scale``: the newest item's
    whole half-lives), correctly rounded to a float. ``next_change`` is the first moment an item
    expires or a future-dated item starts counting (the state must be recomputed from evidence
    at or after it). A named tuple: stored cells are read by the thousand per batch.
    """

    total: float
    scale: int
    counted: int
    next_change: datetime | None
    exact: int = 0
    low: int = 0


def state_key(model: ScoringModel) -> str:
    """A short fingerprint of the parameters a CellState depends on (half-life and kind
    weights; not the curve or the levels): a stored state under another key is stale."""
    described = repr((model.half_life_us, sorted(model.kind_weights.items()),
                      model.other_kind_weight, MIN_STRENGTH, MAX_SPREAD, EXACT_BITS))
    return hashlib.sha256(described.encode()).hexdigest()[:16]


def base_strength(item: EvidenceItem, model: ScoringModel) -> float:
    """Signed weight x confidence x kind weight (before decay); 0 for unusable values."""
    return _base(item.weight, item.confidence, item.polarity, model.kind_weight(item.kind))


def _base(weight: float, confidence: float, polarity: str, kind_weight: float) -> float:
    if not (0.0 <= weight <= MAX_WEIGHT and 0.0 <= confidence <= 1.0):  # NaN fails too
        weight = min(max(weight, 0.0), MAX_WEIGHT) if math.isfinite(weight) else 0.0
        confidence = min(max(confidence, 0.0), 1.0) if math.isfinite(confidence) else 0.0
    strength = weight * confidence * kind_weight
    if strength < MIN_STRENGTH:
        return 0.0
    return -strength if polarity == NEGATIVE else strength


def _counted(
    items: Iterable[EvidenceItem], at_us: int, model: ScoringModel
) -> tuple[list[tuple[EvidenceItem, int, float]], int | None]:
    """(item, time in us, signed base strength) of the items that count at ``at_us``, and the
    next moment (us) the counted set changes. Negative evidence does not lapse (see docs)."""
    counted = []
    change: int | None = None
    kinds = model.kind_weights
    other = model.other_kind_weight
    for item in items:
        moment = micros(item.timestamp)
        if moment > at_us:
            change = moment if change is None or moment < change else change
            continue
        if item.valid_until is not None and item.polarity != NEGATIVE:
            until = micros(item.valid_until)
            if until <= at_us:
                continue
            change = until if change is None or until < change else change
        strength = _base(item.weight, item.confidence, item.polarity, kinds.get(item.kind, other))
        if strength != 0.0:
            counted.append((item, moment, strength))
    return counted, change


def cell_state(items: Iterable[EvidenceItem], at: datetime, model: ScoringModel) -> CellState:
    """The decay-free summary of a cell's evidence as counted at ``at``."""
    state, _ = _state(items, micros(at), model)
    return state


def _state(
    items: Iterable[EvidenceItem], at_us: int, model: ScoringModel
) -> tuple[CellState, list[tuple[EvidenceItem, int, int, float, float]]]:
    counted, change = _counted(items, at_us, model)
    split = _split(counted, model)
    next_change = None if change is None else _moment(change)
    if not split:
        return CellState(0.0, 0, 0, next_change), []
    scale = max(entry[1] for entry in split)
    floor = scale - MAX_SPREAD
    kept = [entry for entry in split if entry[1] >= floor]
    low = min(entry[1] for entry in kept)
    exact = sum(_units(entry[3], entry[1] - low) for entry in kept)
    return CellState(_total(exact, low, scale), scale, len(kept), next_change, exact, low), kept


def add_to_state(
    state: CellState, items: Iterable[EvidenceItem], at: datetime, model: ScoringModel
) -> CellState | None:
    """``state`` with ``items`` (evidence it does not count yet) added, exactly as if the cell
    were summed again with them; None when only summing the cell again can tell (the state's
    counted set changed by ``at``, or the new items push old ones past ``MAX_SPREAD``)."""
    at_us = micros(at)
    if state.next_change is not None and micros(state.next_change) <= at_us:
        return None
    counted, change = _counted(items, at_us, model)
    next_change = state.next_change
    if change is not None:
        moment = _moment(change)
        next_change = moment if next_change is None or moment < next_change else next_change
    split = _split(counted, model)
    if not split:
        return CellState(state.total, state.scale, state.counted, next_change, state.exact,
                         state.low)
    newest = max(entry[1] for entry in split)
    scale = max(state.scale, newest) if state.counted else newest
    floor = scale - MAX_SPREAD
    if state.counted and state.low < floor:
        return None
    kept = [entry for entry in split if entry[1] >= floor]
    if not kept:
        return CellState(state.total, state.scale, state.counted, next_change, state.exact,
                         state.low)
    lowest = min(entry[1] for entry in kept)
    low = min(state.low, lowest) if state.counted else lowest
    exact = (state.exact << (state.low - low)) if state.counted else 0
    exact += sum(_units(entry[3], entry[1] - low) for entry in kept)
    return CellState(_total(exact, low, scale), scale, state.counted + len(kept), next_change,
                     exact, low)


def _split(
    counted: list[tuple[EvidenceItem, int, float]], model: ScoringModel
) -> list[tuple[EvidenceItem, int, float, float, float]]:
    """(item, whole half-lives, 2^(rest/h), scaled strength, base strength) per counted item."""
    half_life = model.half_life_us
    exp2 = math.exp2
    split = []
    for item, moment, strength in counted:
        whole, rest = divmod(moment, half_life)
        factor = exp2(rest / half_life)
        split.append((item, whole, factor, strength * factor, strength))
    return split


def _units(value: float, shift: int) -> int:
    """``value · 2^shift`` in units of 2^-EXACT_BITS, exactly (``shift`` ≥ 0)."""
    numerator, denominator = value.as_integer_ratio()
    return numerator << (EXACT_BITS + shift - denominator.bit_length() + 1)


def _total(exact: int, low: int, scale: int) -> float:
    """``exact · 2^(low - scale - EXACT_BITS)`` correctly rounded (int division is)."""
    return exact / (1 << (EXACT_BITS + scale - low))


def _moment(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def strength_at(state: CellState, at: datetime, model: ScoringModel) -> float:
    """Net evidence strength at ``at``: the state's total times ``2^(-(at)/h)``."""
    if state.counted == 0:
        return 0.0
    whole, rest = divmod(micros(at), model.half_life_us)
    if whole - state.scale > MAX_SPREAD:
        return 0.0
    return math.ldexp(state.total, state.scale - whole) * math.exp2(-rest / model.half_life_us)


def proficiency(strength: float, top: float, model: ScoringModel) -> float:
    """``top x (1 - 2^(-strength / half_strength))``; 0 when the net strength is not above 0."""
    if strength <= 0.0:
        return 0.0
    return top * -math.expm1(-strength * (_LN2 / model.half_strength))


def score_cell(
    target: str, items: Sequence[EvidenceItem], at: datetime, top: float, model: ScoringModel
) -> CellScore:
    """A target's proficiency at ``at`` from its own evidence, with each item's part in it."""
    state, kept = _state(items, micros(at), model)
    return _explained(target, state, kept, at, top, model)


def explain_state(
    target: str, state: CellState, items: Sequence[EvidenceItem], at: datetime, top: float,
    model: ScoringModel,
) -> CellScore:
    """A stored cell's proficiency at ``at`` with the part of some of its items in it (the
    strongest few a page shows; they must be among the items ``state`` counts)."""
    at_us = micros(at)
    counted, _ = _counted(items, at_us, model)
    floor = state.scale - MAX_SPREAD
    kept = [entry for entry in _split(counted, model) if entry[1] >= floor]
    return _explained(target, state, kept, at, top, model)


def _explained(
    target: str, state: CellState, kept: list, at: datetime, top: float, model: ScoringModel
) -> CellScore:
    strength = strength_at(state, at, model)
    value = proficiency(strength, top, model)
    half_life = model.half_life_us
    whole_at, rest_at = divmod(micros(at), half_life)
    now_factor = math.exp2(-rest_at / half_life)
    ratio = value / strength if strength > 0.0 else 0.0
    ldexp = math.ldexp
    scored = []
    for item, whole, factor, _scaled, base in kept:
        decay = ldexp(factor, whole - whole_at) * now_factor
        item_strength = base * decay
        scored.append(ItemScore(item, decay, item_strength, ratio * item_strength))
    scored.sort(key=_item_order)
    return CellScore(target, value, strength, tuple(scored), state.next_change, state.counted)


def _item_order(score: ItemScore) -> tuple:
    return (-abs(score.strength), score.item.statement_id, score.item.key)


# --- roll-up ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetScore:
    """A competency's or dimension's effective proficiency: the higher of its own evidence's
    (``own``) and the mean of the competencies below or tagged with it (``derived``)."""

    target: str
    kind: str  # "competency" | "dimension"
    proficiency: float
    own: float
    derived: float | None
    sources: tuple[str, ...]  # the competencies ``derived`` averages


@dataclass(frozen=True, slots=True)
class RequirementScore:
    target: str
    kind: str
    required: int
    weight: float
    proficiency: float
    attainment: float  # min(1, proficiency / required)
    gap: float  # readiness points missing because of this requirement


@dataclass(frozen=True, slots=True)
class RoleScore:
    role: str
    code: str
    name: str
    score: float  # 0..100
    level: str
    requirements: tuple[RequirementScore, ...]


@dataclass(frozen=True, slots=True)
class Readiness:
    """Everything scored for one learner at one moment."""

    at: datetime
    cells: dict[str, CellScore]
    targets: dict[str, TargetScore]
    roles: dict[str, RoleScore]


@dataclass(frozen=True, slots=True)
class Activity:
    """An activity that would give evidence for a target (from a mapping rule)."""

    rule_id: str
    description: str
    kind: str


class Scorer:
    """Scores learners against one framework with one model (structure computed once)."""

    def __init__(self, framework: Framework, model: ScoringModel) -> None:
        self.framework = framework
        self.model = model
        self.top = float(max((lv.value for lv in framework.scale), default=4))
        children: dict[str, list[str]] = {iri: [] for iri in framework.competencies}
        for competency in framework.competencies.values():
            if competency.parent is not None:
                children[competency.parent].append(competency.iri)
        self.children = {iri: tuple(sorted(kids)) for iri, kids in children.items()}
        tagged: dict[str, list[str]] = {iri: [] for iri in framework.dimensions}
        for competency in framework.competencies.values():
            for dimension in competency.dimensions:
                tagged[dimension].append(competency.iri)
        self.tagged = {iri: tuple(sorted(set(found))) for iri, found in tagged.items()}
        self._order = self._bottom_up()
        self._dimensions = tuple(sorted(framework.dimensions))
        # per role: its requirements in target order and their total weight (fixed per role)
        self._requirements = {
            iri: (tuple(sorted(role.requirements, key=lambda q: q.target)),
                  math.fsum(q.weight for q in role.requirements))
            for iri, role in framework.roles.items()
        }
        self._plan()

    def _plan(self) -> None:
        """Positions for ``role_scores``: every target in roll-up order (a slot of 0 at the end
        stands for targets the framework lacks), what each averages, each role's terms."""
        order = [*self._order, *self._dimensions]
        index = {iri: n for n, iri in enumerate(order)}
        missing = len(order)
        self._slots = tuple(order)
        self._index = index
        below = [(iri, self.children[iri]) for iri in self._order] + [
            (iri, self.tagged[iri]) for iri in self._dimensions
        ]
        self._averages = tuple(
            (index[iri], tuple(index[k] for k in kids)) for iri, kids in below if kids
        )
        self._roles = tuple(
            (iri, role.code, total) for iri, role in self.framework.roles.items()
            for _, total in [self._requirements[iri]]
        )
        # Each role's terms, found from the target they read: a learner has proficiency in few
        # targets, and a term whose target is at 0 adds exactly 0 to the role's sum. Terms
        # with a required proficiency (a level of the scale: an integer) of 0 or less are
        # always fully met: their weight.
        self._met = tuple(
            tuple(q.weight for q in requirements if q.proficiency <= 0)
            for requirements, _ in (self._requirements[iri] for iri, _, _ in self._roles)
        )
        feeds: list[list[tuple[int, float, float]]] = [[] for _ in range(missing + 1)]
        for number, (iri, _, _) in enumerate(self._roles):
            for q in self._requirements[iri][0]:
                if q.proficiency > 0:
                    feeds[index.get(q.target, missing)].append((number, q.weight, q.proficiency))
        self._feeds = tuple(tuple(found) for found in feeds)

    def _bottom_up(self) -> list[str]:
        """Competencies with every child before its parent."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(iri: str) -> None:
            if iri in seen:
                return
            seen.add(iri)
            for child in self.children[iri]:
                visit(child)
            order.append(iri)

        for iri in sorted(self.framework.competencies):
            visit(iri)
        return order

    # -- cells --

    def cell(self, target: str, items: Sequence[EvidenceItem], at: datetime) -> CellScore:
        return score_cell(target, items, at, self.top, self.model)

    def cells(self, items: Iterable[EvidenceItem], at: datetime) -> dict[str, CellScore]:
        """One cell per target the items are about (items may be in any order)."""
        by_target: dict[str, list[EvidenceItem]] = {}
        for item in items:
            by_target.setdefault(item.target, []).append(item)
        return {target: self.cell(target, found, at) for target, found in by_target.items()}

    def proficiency_at(self, state: CellState, at: datetime) -> float:
        return proficiency(strength_at(state, at, self.model), self.top, self.model)

    def proficiencies_at(self, states: Mapping[str, CellState], at: datetime) -> dict[str, float]:
        """``proficiency_at`` of many states at one moment (the moment is split once)."""
        model = self.model
        half_life = model.half_life_us
        whole, rest = divmod(micros(at), half_life)
        now_factor = math.exp2(-rest / half_life)
        rate = _LN2 / model.half_strength
        top = self.top
        ldexp = math.ldexp
        expm1 = math.expm1
        out = {}
        for target, state in states.items():
            if state.counted == 0 or whole - state.scale > MAX_SPREAD:
                out[target] = 0.0
                continue
            strength = ldexp(state.total, state.scale - whole) * now_factor
            out[target] = top * -expm1(-strength * rate) if strength > 0.0 else 0.0
        return out

    # -- roll-up --

    def targets(self, own: Mapping[str, float]) -> dict[str, TargetScore]:
        """Effective proficiency of every competency and dimension of the framework, from
        each target's own proficiency (targets not in ``own`` have 0)."""
        out: dict[str, TargetScore] = {}
        for iri in self._order:
            mine = own.get(iri, 0.0)
            kids = self.children[iri]
            if kids:
                derived = math.fsum(out[k].proficiency for k in kids) / len(kids)
                out[iri] = TargetScore(iri, "competency", max(mine, derived), mine, derived, kids)
            else:
                out[iri] = TargetScore(iri, "competency", mine, mine, None, ())
        for iri in sorted(self.framework.dimensions):
            mine = own.get(iri, 0.0)
            tagged = self.tagged[iri]
            if tagged:
                derived = math.fsum(out[c].proficiency for c in tagged) / len(tagged)
                out[iri] = TargetScore(iri, "dimension", max(mine, derived), mine, derived, tagged)
            else:
                out[iri] = TargetScore(iri, "dimension", mine, mine, None, ())
        return out

    def role(self, role: Role, targets: Mapping[str, TargetScore]) -> RoleScore:
        """``100 · Σ weight · min(1, proficiency / required) / Σ weight``, and its level."""
        requirements, total_weight = self._requirements.get(role.iri) or (
            tuple(sorted(role.requirements, key=lambda q: q.target)),
            math.fsum(q.weight for q in role.requirements),
        )
        rows = []
        for q in requirements:
            found = targets.get(q.target)
            value = found.proficiency if found else 0.0
            attainment = 1.0 if q.proficiency <= 0 else min(1.0, value / q.proficiency)
            gap = 100.0 * q.weight * (1.0 - attainment) / total_weight if total_weight else 0.0
            kind = found.kind if found else "competency"
            rows.append(RequirementScore(q.target, kind, q.proficiency, q.weight, value,
                                         attainment, gap))
        if total_weight > 0:
            score = 100.0 * math.fsum(r.weight * r.attainment for r in rows) / total_weight
            score = min(100.0, max(0.0, score))
        else:
            score = 0.0
        return RoleScore(role.iri, role.code, role.name, score, self.model.level(score),
                         tuple(rows))

    def role_scores(self, own: Mapping[str, float]) -> dict[str, tuple[float, str, str]]:
        """{role IRI: (score, level, code)} from own proficiencies: the arithmetic of
        ``targets`` and ``role`` (the same exact sums of the same non-zero terms, so the same
        numbers), without the explanation objects the incremental path does not need."""
        fsum = math.fsum
        value = [0.0] * (len(self._slots) + 1)  # a learner has proficiency in few targets
        index = self._index
        for iri, found in own.items():
            position = index.get(iri)
            if position is not None:
                value[position] = found
        for position, kids in self._averages:
            derived = fsum(map(value.__getitem__, kids)) / len(kids)
            if derived > value[position]:
                value[position] = derived
        parts = [list(met) for met in self._met]
        feeds = self._feeds
        for position, found in enumerate(value):
            if found:  # 0 adds nothing; NaN and negatives go through as `role` takes them
                for number, weight, required in feeds[position]:
                    attained = found / required
                    parts[number].append(weight * (attained if attained < 1.0 else 1.0))
        level = self.model.level
        out = {}
        for (iri, code, total_weight), terms in zip(self._roles, parts, strict=True):
            if total_weight > 0:
                score = min(100.0, max(0.0, 100.0 * fsum(terms) / total_weight))
            else:
                score = 0.0
            out[iri] = (score, level(score), code)
        return out

    def readiness(self, items: Iterable[EvidenceItem], at: datetime) -> Readiness:
        """Score one learner's evidence at ``at``: cells, targets, every role."""
        cells = self.cells(items, at)
        return self.from_cells(cells, at)

    def from_cells(self, cells: dict[str, CellScore], at: datetime) -> Readiness:
        return self.from_proficiencies({t: c.proficiency for t, c in cells.items()}, at, cells)

    def from_proficiencies(
        self, own: Mapping[str, float], at: datetime, cells: dict[str, CellScore] | None = None
    ) -> Readiness:
        targets = self.targets(own)
        roles = {iri: self.role(role, targets) for iri, role in self.framework.roles.items()}
        return Readiness(at, cells or {}, targets, roles)

    # -- next steps --

    def next_steps(
        self,
        result: Readiness,
        role_iri: str,
        activities: Mapping[str, Sequence[Activity | str]],
        limit: int = 5,
        per_step: int = 5,
    ) -> list[dict]:
        """The requirements of ``role_iri`` with the largest weighted gaps, largest first, each
        with activities that would give evidence for it (for the target itself, then for the
        weakest competencies below or tagged with it)."""
        role = result.roles[role_iri]
        gaps = sorted(
            (r for r in role.requirements if r.gap > 0.0),
            key=lambda r: (-r.gap, r.target),
        )[:limit]
        steps = []
        for requirement in gaps:
            related = [requirement.target]
            below = self.children.get(requirement.target) or self.tagged.get(requirement.target)
            if below:
                related.extend(
                    sorted(below, key=lambda c: (result.targets[c].proficiency, c))
                )
            found: list[dict] = []
            seen: set[str] = set()
            for target in related:
                for activity in activities.get(target, ()):
                    entry = _activity_dict(activity, target)
                    marker = entry.get("rule_id") or entry["description"]
                    if marker in seen:
                        continue
                    seen.add(marker)
                    found.append(entry)
            steps.append(
                {
                    "target": requirement.target,
                    "kind": requirement.kind,
                    "required": requirement.required,
                    "proficiency": requirement.proficiency,
                    "weight": requirement.weight,
                    "gap": requirement.gap,
                    "activities": found[:per_step],
                }
            )
        return steps


def _activity_dict(activity: Activity | str, target: str) -> dict:
    if isinstance(activity, Activity):
        return {
            "rule_id": activity.rule_id,
            "description": activity.description,
            "kind": activity.kind,
            "gives_evidence_for": target,
        }
    return {"description": str(activity), "gives_evidence_for": target}


def activities_from_rules(rules: Iterable) -> dict[str, list[Activity]]:
    """``{target IRI: [Activity]}`` from compiled mapping rules (objects with ``id``,
    ``description`` and ``targets`` having ``iri``, ``polarity``, ``kind``): the rules whose
    positive evidence names each target, strongest first."""
    found: dict[str, list[tuple[float, Activity]]] = {}
    for rule in rules:
        for target in rule.targets:
            if getattr(target, "polarity", POSITIVE) != POSITIVE:
                continue
            strength = float(getattr(target, "weight", 1.0)) * float(
                getattr(target, "confidence", 1.0)
            )
            found.setdefault(target.iri, []).append(
                (strength, Activity(rule.id, rule.description, target.kind))
            )
    return {
        iri: [a for _, a in sorted(entries, key=lambda e: (-e[0], e[1].rule_id))]
        for iri, entries in found.items()
    }
