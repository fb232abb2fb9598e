"""The properties docs/scoring.md promises, checked with hypothesis on the bundled framework."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from lrs_connector.frameworks.documents import load_bundled
from lrs_connector.readiness import EvidenceItem, Scorer, ScoringModel

FRAMEWORK = load_bundled()
SCORER = Scorer(FRAMEWORK, ScoringModel())
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
_BY_SLUG = {iri.rsplit("/", 1)[-1]: iri for iri in FRAMEWORK.competencies}
# Leaves, foundational competencies and dimensions, and two responsibilities with two children
# each among them (a roll-up over several children with evidence): collisions are frequent.
TARGETS = sorted(
    {*sorted(FRAMEWORK.competencies)[:8], _BY_SLUG["learning-design"], _BY_SLUG["needs-analysis"]}
) + sorted(FRAMEWORK.dimensions)[:2]
# Two responsibilities and all their children only: evidence lands on siblings most of the time.
FAMILY = sorted(
    _BY_SLUG[slug] for slug in ("developing-delivering-solutions", "delivery-management",
                                "learning-design", "identifying-needs", "capability-planning",
                                "needs-analysis")
)

_counter = iter(range(10**9))


@st.composite
def items(draw, polarity=None, latest=NOW, targets=TARGETS):
    n = next(_counter)
    moment = latest - timedelta(microseconds=draw(st.integers(0, 6 * 365 * 86_400_000_000)))
    lapse = draw(st.one_of(st.none(), st.integers(1, 2_000)))
    return EvidenceItem(
        key=f"k{n}",
        statement_id=f"s{n}",
        target=draw(st.sampled_from(targets)),
        rule_id=draw(st.sampled_from(["r1", "r2"])),
        rule_version=1,
        weight=draw(st.floats(0.0, 5.0)),
        polarity=polarity or draw(st.sampled_from(["positive", "negative"])),
        kind=draw(st.sampled_from(["knowledge", "practice", "feedback", "other"])),
        confidence=draw(st.floats(0.0, 1.0)),
        timestamp=moment,
        valid_until=None if lapse is None else moment + timedelta(days=lapse),
    )


evidence = st.lists(items(), max_size=30)
models = st.builds(
    ScoringModel,
    half_life_days=st.floats(30.0, 3650.0),
    half_strength=st.floats(0.1, 10.0),
)


def numbers(result):
    """Every number the learner sees: cells, targets (competencies, dimensions) and roles."""
    return (
        {t: c.proficiency for t, c in result.cells.items()},
        {t: s.proficiency for t, s in result.targets.items()},
        {r: s.score for r, s in result.roles.items()},
    )


def all_at_most(lower, upper) -> bool:
    """Every number of ``lower`` ≤ the same number of ``upper`` (missing cells count 0)."""
    for low, high in zip(lower, upper, strict=True):
        for key in set(low) | set(high):
            if low.get(key, 0.0) > high.get(key, 0.0):
                return False
    return True


@settings(max_examples=200, deadline=None)
@given(evidence, models)
def test_bounded(found, model):
    scorer = Scorer(FRAMEWORK, model)
    result = scorer.readiness(found, NOW)
    cells, targets, roles = numbers(result)
    assert all(0.0 <= v <= scorer.top for v in [*cells.values(), *targets.values()])
    assert all(0.0 <= v <= 100.0 for v in roles.values())
    assert all(s.level in [n for n, _ in model.levels] for s in result.roles.values())


@settings(max_examples=200, deadline=None)
@given(evidence, st.randoms(use_true_random=False))
def test_independent_of_the_order_evidence_arrived_in(found, rnd):
    shuffled = list(found)
    rnd.shuffle(shuffled)
    assert numbers(SCORER.readiness(found, NOW)) == numbers(SCORER.readiness(shuffled, NOW))


def evidence_and_more(data, polarity: str) -> tuple[list, list]:
    """Evidence, and 1-3 more items of one polarity, on TARGETS or on FAMILY."""
    targets = data.draw(st.sampled_from([TARGETS, FAMILY]))
    found = data.draw(st.lists(items(targets=targets), max_size=30))
    more = data.draw(st.lists(items(polarity=polarity, targets=targets), min_size=1, max_size=3))
    return found, more


@settings(max_examples=300, deadline=None)
@given(st.data(), models)
def test_never_lower_after_adding_positive_evidence(data, model):
    found, more = evidence_and_more(data, "positive")
    scorer = Scorer(FRAMEWORK, model)
    before = numbers(scorer.readiness(found, NOW))
    after = numbers(scorer.readiness([*found, *more], NOW))
    assert all_at_most(before, after)


@settings(max_examples=300, deadline=None)
@given(st.data(), models)
def test_never_higher_after_adding_negative_evidence(data, model):
    found, more = evidence_and_more(data, "negative")
    scorer = Scorer(FRAMEWORK, model)
    before = numbers(scorer.readiness(found, NOW))
    after = numbers(scorer.readiness([*found, *more], NOW))
    assert all_at_most(after, before)


@settings(max_examples=200, deadline=None)
@given(evidence, items(), st.randoms(use_true_random=False))
def test_removing_an_item_restores_exactly_the_scores_before_it(found, extra, rnd):
    before = numbers(SCORER.readiness(found, NOW))
    with_it = [*found, extra]
    rnd.shuffle(with_it)
    SCORER.readiness(with_it, NOW)
    without = [item for item in with_it if item.key != extra.key]
    assert numbers(SCORER.readiness(without, NOW)) == before


@settings(max_examples=200, deadline=None)
@given(evidence, st.integers(0, 10 * 365 * 86_400_000_000), st.integers(0, 86_400_000_000), models)
def test_scores_only_fall_with_time(found, later, step, model):
    scorer = Scorer(FRAMEWORK, model)
    first = NOW + timedelta(microseconds=later)
    second = first + timedelta(microseconds=step)
    assert all_at_most(
        numbers(scorer.readiness(found, second)), numbers(scorer.readiness(found, first))
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(items(), min_size=1, max_size=30), models)
def test_scores_only_fall_when_evidence_lapses(found, model):
    """Around each moment the counted evidence changes (an item's `valid_until`): a lapse
    takes positive evidence away and never negative evidence, so nothing rises."""
    scorer = Scorer(FRAMEWORK, model)
    lapses = sorted({i.valid_until for i in found if i.valid_until is not None})
    for lapse in lapses:
        moments = [lapse - timedelta(microseconds=1), lapse, lapse + timedelta(days=1)]
        scores = [numbers(scorer.readiness(found, max(m, NOW))) for m in moments]
        for earlier, later in pairwise(scores):
            assert all_at_most(later, earlier)


@settings(max_examples=200, deadline=None)
@given(evidence, models)
def test_stored_state_gives_the_same_proficiency_until_its_next_change(found, model):
    """The incremental path keeps (total, scale, next change) per cell and scores from it."""
    from lrs_connector.readiness.scoring import cell_state

    scorer = Scorer(FRAMEWORK, model)
    cells = scorer.cells(found, NOW)
    later = NOW + timedelta(days=40)
    for target, cell in cells.items():
        mine = [i for i in found if i.target == target]
        state = cell_state(mine, NOW, model)
        assert scorer.proficiency_at(state, NOW) == cell.proficiency
        if state.next_change is None or state.next_change > later:
            expected = scorer.cell(target, mine, later).proficiency
            assert scorer.proficiency_at(state, later) == expected


@settings(max_examples=200, deadline=None)
@given(evidence)
def test_contributions_add_up_to_the_proficiency(found):
    for cell in SCORER.readiness(found, NOW).cells.values():
        total = sum(item.contribution for item in cell.items)
        assert abs(total - cell.proficiency) <= 1e-9 * max(1.0, cell.proficiency)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=4.0), min_size=0, max_size=60))
def test_quick_role_scores_equal_the_explained_ones(values):
    """The incremental path's role_scores and the explained roll-up give the same numbers."""
    scorer = SCORER
    targets = sorted([*scorer.framework.competencies, *scorer.framework.dimensions])
    own = {t: v for t, v in zip(targets, values, strict=False)}
    quick = scorer.role_scores(own)
    full = scorer.from_proficiencies(own, datetime.now(UTC)).roles
    assert quick == {iri: (r.score, r.level, r.code) for iri, r in full.items()}


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.integers(0, 60), st.floats(min_value=0.0, max_value=4.0) | st.just(0.0),
                       max_size=12))
def test_quick_role_scores_equal_the_explained_ones_for_few_targets(placed):
    """As above for what learners have: proficiency in a few targets, 0 or absent elsewhere
    (role_scores skips the terms of targets at 0)."""
    scorer = SCORER
    targets = sorted([*scorer.framework.competencies, *scorer.framework.dimensions])
    own = {targets[n % len(targets)]: v for n, v in placed.items()}
    quick = scorer.role_scores(own)
    full = scorer.from_proficiencies(own, datetime.now(UTC)).roles
    assert quick == {iri: (r.score, r.level, r.code) for iri, r in full.items()}


@settings(max_examples=300, deadline=None)
@given(evidence, evidence, st.sampled_from([1.0, 30.0, 365.0]), st.integers(0, 400))
def test_adding_to_a_stored_state_equals_summing_everything_again(old, new, half_life, days):
    """What lets a batch extend a stored cell with its new evidence only: the extended state
    is exactly (every field, the exact sum included) the state of all the evidence, or the
    function says it cannot tell (old items pushed past MAX_SPREAD, or the stored state's
    counted set changed by then)."""
    from lrs_connector.readiness.scoring import MAX_SPREAD, add_to_state, cell_state

    model = ScoringModel(half_life_days=half_life)
    later = NOW + timedelta(days=days)
    for target in TARGETS:
        before = [i for i in old if i.target == target]
        added = [i for i in new if i.target == target]
        state = cell_state(before, NOW, model)
        extended = add_to_state(state, added, later, model)
        if extended is None:
            lapsed = state.next_change is not None and state.next_change <= later
            pushed = cell_state(before + added, later, model).scale - state.low > MAX_SPREAD
            assert lapsed or (state.counted and pushed)
            continue
        assert extended == cell_state(before + added, later, model)
