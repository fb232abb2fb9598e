"""Mapping rules compiled once into condition functions, and the mapper that indexes them.

A rule's match is a list of conditions evaluated in a fixed order, cheapest first (verb,
activity, result, extensions, JSONPath, then the profile template). Matching stops at the
first failing condition, which is what ``explain`` reports. The mapper indexes rules by the
verb they require (given directly or by their template), then by the activity ids they
require, so a statement is only tried against the rules for its verb and activity plus the
few rules that accept any.

Reading pass/fail (``success``): when ``result.success`` is present it decides, whatever the
score; only when it is absent is the score compared with the rule's ``pass_mark`` (if any).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lrs_connector.mapping.document import MappingError, Problem, parse_text, validate_document
from lrs_connector.profiles import SUCCESS, JSONPathError, ProfileError, ProfileSet, compile_path

# A condition is two functions over (statement, memo): `test` says whether it holds (the hot
# path of processing and replay: no message is built), `why` says what was found when it does
# not (explain only). `memo` is per statement, shared by the rules tried on it.
Test = Callable[[dict[str, Any], dict[str, Any]], bool]
Why = Callable[[dict[str, Any], dict[str, Any]], str]
_MISSING = object()


@dataclass(frozen=True, slots=True)
class Condition:
    field: str  # the rule field it comes from, e.g. "match.verb"
    test: Test
    why: Why

    def check(self, statement: dict[str, Any], memo: dict[str, Any]) -> str | None:
        """None when the condition holds, else a short sentence saying what was found."""
        return None if self.test(statement, memo) else self.why(statement, memo)


@dataclass(frozen=True, slots=True)
class Target:
    iri: str
    weight: float
    polarity: str
    kind: str
    confidence: float
    valid_days: int | None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    position: int
    verbs: frozenset[str] | None  # None: any verb
    conditions: tuple[Condition, ...]
    targets: tuple[Target, ...]
    template: str | None
    # The tests left once the verb index has picked the rule for a statement (its verb
    # condition, if any, already holds): what `Mapper.evaluate` runs.
    indexed_tests: tuple[Test, ...] = ()
    activity_ids: frozenset[str] | None = None  # None: any activity (match.activity_id)

    def first_failure(self, statement: dict[str, Any], memo: dict[str, Any]) -> Condition | None:
        for condition in self.conditions:
            if not condition.test(statement, memo):
                return condition
        return None

    def matches(self, statement: dict[str, Any], memo: dict[str, Any]) -> bool:
        for condition in self.conditions:  # noqa: SIM110 (a plain loop is faster on this path)
            if not condition.test(statement, memo):
                return False
        return True


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """One rule's verdict on one statement, for explain."""

    rule: Rule
    matched: bool
    failed_field: str | None = None
    failed_message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule.id,
            "description": self.rule.description,
            "matched": self.matched,
        }
        if self.matched:
            out["targets"] = [
                {
                    "target": t.iri,
                    "weight": t.weight,
                    "polarity": t.polarity,
                    "kind": t.kind,
                    "confidence": t.confidence,
                }
                for t in self.rule.targets
            ]
        else:
            out["failed"] = {"condition": self.failed_field, "message": self.failed_message}
        return out


class Mapper:
    """A compiled mapping set: rules in document order, indexed by verb."""

    def __init__(self, rules: Sequence[Rule], name: str = "", description: str = "") -> None:
        self.rules = tuple(rules)
        self.name = name
        self.description = description
        any_verb = [r for r in self.rules if r.verbs is None]
        by_verb: dict[str, list[Rule]] = {}
        for rule in self.rules:
            for verb in rule.verbs or ():
                by_verb.setdefault(verb, []).append(rule)
        self._any = _by_activity(any_verb)
        self._by_verb = {
            verb: _by_activity({*rules, *any_verb}) for verb, rules in by_verb.items()
        }

    def candidates(self, statement: dict[str, Any]) -> tuple[Rule, ...]:
        """The rules that can match ``statement``, in document order: those for its verb (or
        for any verb) that name its activity id or no activity id."""
        verb = statement.get("verb")
        verb_id = verb.get("id") if type(verb) is dict else None
        for_any, for_activity = self._by_verb.get(verb_id, self._any)
        if for_activity:
            obj = statement.get("object")  # as the activity_id condition reads it
            if type(obj) is dict and obj.get("objectType", "Activity") == "Activity":
                activity = obj.get("id")
                if type(activity) is str:
                    return for_activity.get(activity, for_any)
        return for_any

    def evaluate(self, statement: dict[str, Any]) -> list[Rule]:
        """The rules that match, in document order (the hot path: tests only, no messages)."""
        memo: dict[str, Any] = {}
        out = []
        for rule in self.candidates(statement):
            for test in rule.indexed_tests:
                if not test(statement, memo):
                    break
            else:
                out.append(rule)
        return out

    def explain(self, statement: dict[str, Any]) -> list[RuleOutcome]:
        """Every rule's verdict, with the first condition that failed (and what was found)."""
        memo: dict[str, Any] = {}
        out = []
        for rule in self.rules:
            for condition in rule.conditions:
                message = condition.check(statement, memo)
                if message is not None:
                    out.append(RuleOutcome(rule, False, condition.field, message))
                    break
            else:
                out.append(RuleOutcome(rule, True))
        return out

    def targets(self) -> set[str]:
        return {t.iri for r in self.rules for t in r.targets}


ByActivity = tuple[tuple[Rule, ...], dict[str, tuple[Rule, ...]]]


def _by_activity(rules: Iterable[Rule]) -> ByActivity:
    """(the rules that accept any activity, {activity id: those and the rules naming it}),
    each in document order. Only ids the rules name are keys: statements cannot grow it."""
    rules = sorted(rules, key=lambda r: r.position)
    for_any = tuple(r for r in rules if r.activity_ids is None)
    named = {i for r in rules for i in r.activity_ids or ()}
    return for_any, {
        activity: tuple(r for r in rules if r.activity_ids is None or activity in r.activity_ids)
        for activity in sorted(named)
    }


# --- compiling -------------------------------------------------------------------------------


def compile_text(
    text: str | bytes,
    file: str,
    profiles: ProfileSet,
    known_targets: Container[str] | None = None,
) -> Mapper:
    """Parse, validate and compile a rules document (MappingError lists every problem)."""
    return compile_document(parse_text(text, file), file, profiles, known_targets)


def compile_document(
    data: Any,
    file: str,
    profiles: ProfileSet,
    known_targets: Container[str] | None = None,
) -> Mapper:
    def extra(rule: dict[str, Any], label: str, problems: list[Problem]) -> None:
        template = rule["match"].get("template")
        if template is not None:
            try:
                profiles.template(template)
            except KeyError:
                problems.append(
                    Problem(file, label, "match.template", "no loaded profile defines it")
                )
            except ProfileError as exc:
                problems.append(Problem(file, label, "match.template", str(exc)))
        for position, condition in enumerate(rule["match"].get("jsonpath", ())):
            try:
                compile_path(condition["path"])
            except JSONPathError as exc:
                problems.append(Problem(file, label, f"match.jsonpath.{position}.path", str(exc)))
        if known_targets is not None:
            for position, target in enumerate(rule["targets"]):
                if target["target"] not in known_targets:
                    problems.append(
                        Problem(
                            file,
                            label,
                            f"targets.{position}.target",
                            f"{target['target'][:300]} is not a competency or dimension of "
                            "the framework in force",
                        )
                    )

    document = validate_document(data, file, extra)
    rules = [_compile_rule(raw, i, profiles) for i, raw in enumerate(document["rules"])]
    return Mapper(rules, document["name"], document.get("description", ""))


def _compile_rule(raw: dict[str, Any], position: int, profiles: ProfileSet) -> Rule:
    match = raw["match"]
    conditions: list[Condition] = []
    verbs: frozenset[str] | None = None
    if "verb" in match:
        verbs = frozenset(match["verb"])
        conditions.append(Condition("match.verb", *_verb_check(verbs)))
    template = match.get("template")
    compiled = profiles.template(template) if template else None
    if verbs is None and compiled is not None and compiled.verb is not None:
        verbs = frozenset([compiled.verb])
    if "activity_type" in match:
        conditions.append(
            Condition(
                "match.activity_type", *_activity_type_check(frozenset(match["activity_type"]))
            )
        )
    if "activity_id" in match:
        conditions.append(
            Condition("match.activity_id", *_activity_id_check(frozenset(match["activity_id"])))
        )
    if "activity_id_prefix" in match:
        conditions.append(
            Condition(
                "match.activity_id_prefix", *_prefix_check(tuple(match["activity_id_prefix"]))
            )
        )
    if "success" in match:
        conditions.append(
            Condition("match.success", *_success_check(match["success"], match.get("pass_mark")))
        )
    if "completion" in match:
        conditions.append(Condition("match.completion", *_completion_check(match["completion"])))
    for name, value in match.get("score", {}).items():
        conditions.append(Condition(f"match.score.{name}", *_score_check(name, value)))
    for i, condition in enumerate(match.get("context_extensions", ())):
        conditions.append(Condition(f"match.context_extensions.{i}", *_extension_check(condition)))
    for i, condition in enumerate(match.get("jsonpath", ())):
        conditions.append(Condition(f"match.jsonpath.{i}", *_jsonpath_check(condition)))
    if compiled is not None:
        conditions.append(Condition("match.template", *_template_check(compiled)))
    targets = tuple(
        Target(
            t["target"],
            float(t["weight"]),
            t["polarity"],
            t["kind"],
            float(t["confidence"]),
            t.get("valid_days"),
        )
        for t in raw["targets"]
    )
    indexed = tuple(c.test for c in conditions if c.field != "match.verb")
    return Rule(
        raw["id"],
        raw["description"],
        position,
        verbs,
        tuple(conditions),
        targets,
        template,
        indexed,
        frozenset(match["activity_id"]) if "activity_id" in match else None,
    )


def _short(values: Iterable[Any]) -> str:
    values = sorted(str(v) for v in values)
    return ", ".join(values[:3]) + (f" (+{len(values) - 3} more)" if len(values) > 3 else "")


Pair = tuple[Test, Why]


def _verb_found(statement: dict[str, Any]) -> Any:
    verb = statement.get("verb")
    return verb.get("id") if type(verb) is dict else None


def _verb_check(verbs: frozenset[str]) -> Pair:
    wanted = _short(verbs)

    def test(statement: dict[str, Any], memo: dict[str, Any]) -> bool:
        return _verb_found(statement) in verbs

    def why(statement: dict[str, Any], memo: dict[str, Any]) -> str:
        return f"verb is {_verb_found(statement)}, the rule wants {wanted}"

    return test, why


def _activity(statement: dict[str, Any]) -> dict[str, Any] | None:
    obj = statement.get("object")
    if type(obj) is dict and obj.get("objectType", "Activity") == "Activity":
        return obj
    return None


def _activity_type(statement: dict[str, Any]) -> Any:
    obj = _activity(statement)
    definition = obj.get("definition") if obj else None
    return definition.get("type") if type(definition) is dict else None


def _activity_id(statement: dict[str, Any]) -> Any:
    obj = _activity(statement)
    return obj.get("id") if obj else None


def _activity_type_check(types: frozenset[str]) -> Pair:
    wanted = _short(types)

    def test(statement: dict[str, Any], memo: dict[str, Any]) -> bool:
        return _activity_type(statement) in types

    def why(statement: dict[str, Any], memo: dict[str, Any]) -> str:
        return f"activity type is {_activity_type(statement)}, the rule wants {wanted}"

    return test, why


def _activity_id_check(ids: frozenset[str]) -> Pair:
    wanted = _short(ids)

    def test(statement: dict[str, Any], memo: dict[str, Any]) -> bool:
        obj = statement.get("object")  # _activity_id, inlined (hot path)
        if type(obj) is not dict or obj.get("objectType", "Activity") != "Activity":
            return False
        return obj.get("id") in ids

    def why(statement: dict[str, Any], memo: dict[str, Any]) -> str:
        return f"activity id is {_activity_id(statement)}, the rule wants {wanted}"

    return test, why


def _prefix_check(prefixes: tuple[str, ...]) -> Pair:
    wanted = _short(prefixes)

    def test(statement: dict[str, Any], memo: dict[str, Any]) -> bool:
        obj = statement.get("object")  # _activity_id, inlined (hot path)
        if type(obj) is not dict or obj.get("objectType", "Activity") != "Activity":
            return False
        found = obj.get("id")
        return isinstance(found, str) and found.startswith(prefixes)

    def why(statement: dict[str, Any], memo: dict[str, Any]) -> str:
        return f"activity id {_activity_id(statement)} does not start with {wanted}"

    return test, why


def _result(statement: dict[str, Any]) -> dict[str, Any]:
    result = statement.get("result")
    return result if type(result) is dict else {}


def _scaled(result: dict[str, Any]) -> float | None:
    score = result.get("score")
    value = score.get("scaled") if type(score) is dict else None
    return value if type(value) in (int, float) else None


def success_reading(result: dict[str, Any], pass_mark: float | None) -> bool | None:
    """Passed (True), failed (False) or unknown (None): result.success decides when present."""
    success = result.get("success")
    if type(success) is bool:
        return success
    if pass_mark is not None:
        scaled = _scaled(result)
        if scaled is not None:
            return scaled >= pass_mark
    return None


def _success_check(wanted: bool, pass_mark: float | None) -> Pair:
    word = "passed" if wanted else "failed"

    def test(statement: dict[str, Any], memo: dict[str, Any]) -> bool:
        return success_reading(_result(statement), pass_mark) is wanted

    def why(statement: dict[str, Any], memo: dict[str, Any]) -> str:
        result = _result(statement)
        if success_reading(result, pass_mark) is None:
            if pass_mark is None:
                return "result.success is absent (and the rule has no pass_mark)"
            return "result.success and result.score.scaled are absent"
        how = (
            f"result.success is {str(result['success']).lower()}"
            if "success" in result
            else f"score {_scaled(result)} against pass_mark {pass_mark}"
        )
        return f"not {word}: {how}"

    return test, why


def _completion_check(wanted: bool) -> Pair:
    def test(statement: dict[str, Any], memo: dict[str, Any]) -> bool:
        return _result(statement).get("completion") is wanted

    def why(statement: dict[str, Any], memo: dict[str, Any]) -> str:
        found = _result(statement).get("completion")
        shown = "absent" if found is None else str(found).lower()
        return f"result.completion is {shown}, the rule wants {str(wanted).lower()}"

    return test, why


def _score_check(name: str, bound: float) -> Pair:
    part, _, side = name.partition("_")
    at_least = side == "min"

    def found(statement: dict[str, Any]) -> Any:
        score = _result(statement).get("score")
        return score.get(part) if type(score) is dict else None

    def test(statement: dict[str, Any], memo: dict[str, Any]) -> bool:
        value = found(statement)
        if type(value) not in (int, float):
            return False
        return value >= bound if at_least else value <= bound

    def why(statement: dict[str, Any], memo: dict[str, Any]) -> str:
        value = found(statement)
        if type(value) not in (int, float):
            return f"result.score.{part} is absent"
        sign = ">=" if at_least else "<="
        return f"result.score.{part} is {value}, the rule wants {sign} {bound}"

    return test, why


ValuesTest = Callable[[list[Any]], bool]
ValuesWhy = Callable[[list[Any]], str]


def _value_test(condition: dict[str, Any]) -> tuple[ValuesTest, ValuesWhy]:
    """Operators on the values found at a location (a JSONPath may find several): each
    operator must hold for at least one value; ``exists`` looks at whether any was found.
    Returns (all operators hold, the first failing operator's message)."""
    operators: list[tuple[ValuesTest, ValuesWhy]] = []
    if "exists" in condition:
        wanted = condition["exists"]

        def exists(values: list[Any]) -> bool:
            return bool(values) is wanted

        def exists_why(values: list[Any]) -> str:
            return "it is absent" if wanted else f"it is present: {values[0]!r}"

        operators.append((exists, exists_why))
    if "equals" in condition:
        expected = condition["equals"]
        operators.append(_any_value(lambda v: _same(v, expected), f"equal to {expected!r}"))
    if "in_" in condition:
        options = condition["in_"]
        operators.append(
            _any_value(lambda v: any(_same(v, o) for o in options), f"one of {options!r}")
        )
    if "contains" in condition:
        item = condition["contains"]

        def contains(value: Any) -> bool:
            if isinstance(value, list):
                return any(_same(v, item) for v in value)
            if isinstance(value, str) and isinstance(item, str):
                return item in value
            return False

        operators.append(_any_value(contains, f"containing {item!r}"))
    if "min" in condition:
        low = condition["min"]
        operators.append(_any_value(lambda v: _number(v) and v >= low, f">= {low}"))
    if "max" in condition:
        high = condition["max"]
        operators.append(_any_value(lambda v: _number(v) and v <= high, f"<= {high}"))
    tests = tuple(t for t, _ in operators)

    def holds(values: list[Any]) -> bool:
        for test in tests:  # noqa: SIM110 (a plain loop is faster on this path)
            if not test(values):
                return False
        return True

    def why(values: list[Any]) -> str:
        for test, message in operators:
            if not test(values):
                return message(values)
        return "it holds"

    return holds, why


def _number(value: Any) -> bool:
    return type(value) in (int, float)


def _same(a: Any, b: Any) -> bool:
    if type(a) is bool or type(b) is bool:
        return a is b
    return a == b


def _any_value(predicate: Callable[[Any], bool], wanted: str) -> tuple[ValuesTest, ValuesWhy]:
    def test(values: list[Any]) -> bool:
        for value in values:  # noqa: SIM110 (a plain loop is faster on this path)
            if predicate(value):
                return True
        return False

    def why(values: list[Any]) -> str:
        if not values:
            return f"it is absent (wanted {wanted})"
        shown = ", ".join(repr(v) for v in values[:3])
        return f"found {shown}, wanted {wanted}"

    return test, why


def _extension_check(condition: dict[str, Any]) -> Pair:
    iri = condition["extension"]
    holds, message = _value_test(condition)

    def values(statement: dict[str, Any]) -> list[Any]:
        context = statement.get("context")
        extensions = context.get("extensions") if type(context) is dict else None
        value = extensions.get(iri, _MISSING) if type(extensions) is dict else _MISSING
        return [] if value is _MISSING else [value]

    when_absent = holds([])  # most statements lack most extensions: answer at once

    def test(statement: dict[str, Any], memo: dict[str, Any]) -> bool:
        context = statement.get("context")
        extensions = context.get("extensions") if type(context) is dict else None
        value = extensions.get(iri, _MISSING) if type(extensions) is dict else _MISSING
        return when_absent if value is _MISSING else holds([value])

    def why(statement: dict[str, Any], memo: dict[str, Any]) -> str:
        return f"context extension {iri}: {message(values(statement))}"

    return test, why


def _jsonpath_check(condition: dict[str, Any]) -> Pair:
    path = compile_path(condition["path"])
    holds, message = _value_test(condition)

    def test(statement: dict[str, Any], memo: dict[str, Any]) -> bool:
        return holds(path.evaluate(statement))

    def why(statement: dict[str, Any], memo: dict[str, Any]) -> str:
        return f"{path.source}: {message(path.evaluate(statement))}"

    return test, why


def _template_check(template) -> Pair:
    """The template is matched once per statement (several rules may name it): the memo keeps
    its outcome, and the first reason when it failed."""

    def test(statement: dict[str, Any], memo: dict[str, Any]) -> bool:
        outcome = memo.get(template.id)
        if outcome is None:
            result = template.match(statement)
            outcome = result.outcome == SUCCESS
            memo[template.id] = outcome
            if not outcome:
                memo["why:" + template.id] = _why(result)
        return outcome

    def why(statement: dict[str, Any], memo: dict[str, Any]) -> str:
        if "why:" + template.id not in memo:
            memo["why:" + template.id] = _why(template.match(statement))
        return f"template {template.id}: {memo['why:' + template.id]}"

    return test, why


def _why(result) -> str:
    if not result.reasons:
        return result.outcome
    return f"{result.outcome} ({result.reasons[0].message})"


__all__ = [
    "Condition",
    "Mapper",
    "MappingError",
    "Problem",
    "Rule",
    "RuleOutcome",
    "Target",
    "compile_document",
    "compile_text",
    "success_reading",
]
