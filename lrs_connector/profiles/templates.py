"""Statement Templates compiled once and matched against statements (communication part, 2.1).

Each template gives one of three outcomes for a statement:

* ``unmatched``: a Determining Property differs, so the template does not apply;
* ``invalid``: it applies, but a rule or a StatementRef requirement fails (``reasons`` say which
  rule, at which location, and what was found);
* ``success``: it applies and everything holds.

Where the spec's prose (structure part 8.1) and its pseudocode disagree we follow the prose;
see docs/profiles.md, "Choices where the spec is ambiguous".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lrs_connector.profiles.documents import ProfileError
from lrs_connector.profiles.jsonpath import CompiledPath, JSONPathError, compile_path

SUCCESS = "success"
INVALID = "invalid"
UNMATCHED = "unmatched"

PRESENCE_VALUES = ("included", "excluded", "recommended")
CONTEXT_TYPE_PROPERTIES = {
    "contextGroupingActivityType": "grouping",
    "contextParentActivityType": "parent",
    "contextOtherActivityType": "other",
    "contextCategoryActivityType": "category",
}
DETERMINING_PROPERTIES = (
    "verb",
    "objectActivityType",
    *CONTEXT_TYPE_PROPERTIES,
    "attachmentUsageType",
)
#: How deep StatementRef chains are followed before giving up (guards against cycles).
MAX_REF_DEPTH = 8
_MAX_FOUND = 5  # values quoted in a reason; enough to debug, small enough to log

StatementLookup = Callable[[str], "dict[str, Any] | None"]
TemplateResolver = Callable[[str], "CompiledTemplate | None"]


@dataclass(slots=True)
class Reason:
    """Why a template did not give ``success``: the requirement, and what was found."""

    requirement: str  # a Determining Property, presence/any/all/none, or a StatementRef property
    message: str
    rule: int | None = None  # index in the template's ``rules`` array
    location: str | None = None
    found: list[Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"requirement": self.requirement, "message": self.message}
        if self.rule is not None:
            out["rule"] = self.rule
            out["location"] = self.location
        if self.found is not None:
            out["found"] = self.found[:_MAX_FOUND]
            if len(self.found) > _MAX_FOUND:
                out["found_total"] = len(self.found)
        return out


@dataclass(slots=True)
class TemplateResult:
    """The outcome of one statement against one template."""

    template_id: str
    outcome: str
    reasons: list[Reason] = field(default_factory=list)
    #: Things that could not be verified but did not fail, e.g. an unavailable StatementRef.
    notes: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.outcome == SUCCESS

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"template": self.template_id, "outcome": self.outcome}
        if self.reasons:
            out["reasons"] = [r.as_dict() for r in self.reasons]
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def value_key(value: Any) -> Any:
    """A hashable key with JSON equality: ``true`` != ``1`` (unlike Python), ``1`` == ``1.0``."""
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return (bool, value)
    if kind is int or kind is float:
        return (float, value)
    if value is None:
        return (None,)
    return ("json", json.dumps(value, sort_keys=True, separators=(",", ":")))


def normalize_statement(statement: dict[str, Any]) -> dict[str, Any]:
    """Wrap singleton ``contextActivities`` in arrays, as the spec requires before matching.

    Returns the statement itself when nothing needs changing (the common case), else a shallow
    copy; the caller's statement is never modified.
    """
    context = statement.get("context")
    if type(context) is not dict:
        return statement
    activities = context.get("contextActivities")
    if type(activities) is not dict:
        return statement
    if not any(type(v) is dict for v in activities.values()):
        return statement
    fixed = {k: [v] if type(v) is dict else v for k, v in activities.items()}
    return {**statement, "context": {**context, "contextActivities": fixed}}


class CompiledRule:
    """One Statement Template Rule with its paths parsed and its value lists hashed."""

    __slots__ = ("all", "any", "index", "location", "none", "presence", "raw", "selector")

    def __init__(self, index: int, raw: Mapping[str, Any], template_id: str) -> None:
        self.index = index
        self.raw = raw
        where = f"template {template_id} rule {index}"
        self.location = _compile(raw.get("location"), f"{where} location")
        selector = raw.get("selector")
        self.selector = None if selector is None else _compile(selector, f"{where} selector")
        presence = raw.get("presence")
        if presence is not None and presence not in PRESENCE_VALUES:
            raise ProfileError(f"{where}: presence must be one of {PRESENCE_VALUES}")
        self.presence: str | None = presence
        self.any = _value_set(raw.get("any"))
        self.all = _value_set(raw.get("all"))
        self.none = _value_set(raw.get("none"))

    def check(self, statement: dict[str, Any]) -> Reason | None:
        """None when the statement follows the rule, else the reason it does not."""
        values = self.location.evaluate(statement)
        unmatchable = 0
        if self.selector is not None:
            selected: list[Any] = []
            for value in values:
                found = self.selector.evaluate(value)
                if found:
                    selected.extend(found)
                else:
                    unmatchable += 1
            values = selected
        presence = self.presence
        if presence == "included":
            if unmatchable:
                return self._fail(
                    "presence",
                    f"presence 'included' but {unmatchable} value(s) had nothing at the selector",
                    values,
                )
            if not values:
                return self._fail("presence", "presence 'included' but nothing found", values)
        elif presence == "excluded":
            # Prose: with 'excluded' only the absence of matchable values is required;
            # any/all/none apply only to missing, 'included' or 'recommended' presence.
            if values:
                return self._fail("presence", "presence 'excluded' but values found", values)
            return None
        elif presence == "recommended" and not values:
            return None  # prose: value checks apply only when matchable values are present
        if self.any is None and self.all is None and self.none is None:
            return None
        keys = [value_key(v) for v in values]
        if self.any is not None and not any(k in self.any for k in keys):
            return self._fail("any", "no value is one of 'any'", values)
        if self.all is not None:
            if unmatchable:
                return self._fail(
                    "all", f"{unmatchable} value(s) had nothing at the selector", values
                )
            outside = [v for v, k in zip(values, keys, strict=True) if k not in self.all]
            if outside:
                return self._fail("all", "value(s) not in 'all'", outside)
        if self.none is not None:
            banned = [v for v, k in zip(values, keys, strict=True) if k in self.none]
            if banned:
                return self._fail("none", "value(s) listed in 'none'", banned)
        return None

    def _fail(self, requirement: str, message: str, found: list[Any]) -> Reason:
        return Reason(requirement, message, self.index, self.location.source, list(found))


class CompiledTemplate:
    """A Statement Template ready to match; build it with :func:`compile_template`.

    ``resolve`` finds other templates by id (for StatementRef templates); a
    :class:`~lrs_connector.profiles.profileset.ProfileSet` supplies it.
    """

    __slots__ = (
        "attachment_types",
        "context_ref_templates",
        "context_types",
        "id",
        "object_ref_templates",
        "object_type",
        "profile_id",
        "raw",
        "resolve",
        "rules",
        "verb",
    )

    def __init__(
        self,
        raw: Mapping[str, Any],
        profile_id: str | None = None,
        resolve: TemplateResolver | None = None,
    ) -> None:
        template_id = raw.get("id")
        if not isinstance(template_id, str):
            raise ProfileError("a statement template needs a string 'id'")
        self.id = template_id
        self.raw = raw
        self.profile_id = profile_id
        self.resolve = resolve
        verb = raw.get("verb")
        self.verb: str | None = verb if isinstance(verb, str) else None
        object_type = raw.get("objectActivityType")
        self.object_type: str | None = object_type if isinstance(object_type, str) else None
        self.context_types: tuple[tuple[str, str, frozenset[str]], ...] = tuple(
            (prop, key, frozenset(_as_list(raw[prop])))
            for prop, key in CONTEXT_TYPE_PROPERTIES.items()
            if raw.get(prop)
        )
        attachment = raw.get("attachmentUsageType")
        self.attachment_types = frozenset(_as_list(attachment)) if attachment else None
        self.object_ref_templates = tuple(_as_list(raw.get("objectStatementRefTemplate")))
        self.context_ref_templates = tuple(_as_list(raw.get("contextStatementRefTemplate")))
        rules = raw.get("rules") or []
        if not isinstance(rules, list):
            raise ProfileError(f"template {template_id}: 'rules' must be an array")
        compiled = []
        for index, rule in enumerate(rules):
            if not isinstance(rule, Mapping):
                raise ProfileError(f"template {template_id} rule {index}: must be an object")
            compiled.append(CompiledRule(index, rule, template_id))
        self.rules = tuple(compiled)

    def __repr__(self) -> str:
        return f"CompiledTemplate({self.id!r}, rules={len(self.rules)})"

    def applies(self, statement: dict[str, Any]) -> Reason | None:
        """None when every Determining Property matches, else the first that does not."""
        if self.verb is not None:
            verb = statement.get("verb")
            found = verb.get("id") if type(verb) is dict else None
            if found != self.verb:
                return Reason("verb", f"verb is not {self.verb}", found=[found])
        if self.object_type is not None:
            obj = statement.get("object")
            found = None
            if type(obj) is dict and obj.get("objectType", "Activity") == "Activity":
                definition = obj.get("definition")
                if type(definition) is dict:
                    found = definition.get("type")
            if found != self.object_type:
                return Reason(
                    "objectActivityType", f"object type is not {self.object_type}", found=[found]
                )
        if self.context_types:
            context = statement.get("context")
            activities = context.get("contextActivities") if type(context) is dict else None
            for prop, key, wanted in self.context_types:
                present = _activity_types(activities.get(key) if type(activities) is dict else None)
                if not wanted <= present:
                    return Reason(
                        prop,
                        f"{key} context activities lack type(s) {sorted(wanted - present)}",
                        found=sorted(present),
                    )
        if self.attachment_types is not None:
            attachments = statement.get("attachments")
            present = (
                {a.get("usageType") for a in attachments if type(a) is dict}
                if type(attachments) is list
                else set()
            )
            if not self.attachment_types <= present:
                missing = sorted(self.attachment_types - present)
                return Reason(
                    "attachmentUsageType",
                    f"attachments lack usage type(s) {missing}",
                    found=sorted(str(p) for p in present),
                )
        return None

    def match(
        self,
        statement: dict[str, Any],
        statement_refs: StatementLookup | Mapping[str, dict[str, Any]] | None = None,
        *,
        _depth: int = 0,
    ) -> TemplateResult:
        """Match one statement. ``statement_refs`` looks up statements by id (a callable or a
        mapping) so StatementRef templates can be verified; without it they are noted as
        unverified, not failed."""
        if type(statement) is not dict:
            return TemplateResult(self.id, INVALID, [Reason("statement", "not a JSON object")])
        miss = self.applies(statement)
        if miss is not None:
            return TemplateResult(self.id, UNMATCHED, [miss])
        statement = normalize_statement(statement)
        reasons: list[Reason] = []
        notes: list[str] = []
        if self.object_ref_templates or self.context_ref_templates:
            lookup = _lookup(statement_refs)
            if self.object_ref_templates:
                self._check_ref(
                    "objectStatementRefTemplate",
                    statement.get("object"),
                    self.object_ref_templates,
                    lookup,
                    _depth,
                    reasons,
                    notes,
                )
            if self.context_ref_templates:
                context = statement.get("context")
                self._check_ref(
                    "contextStatementRefTemplate",
                    context.get("statement") if type(context) is dict else None,
                    self.context_ref_templates,
                    lookup,
                    _depth,
                    reasons,
                    notes,
                )
        for rule in self.rules:
            reason = rule.check(statement)
            if reason is not None:
                reasons.append(reason)
        return TemplateResult(self.id, INVALID if reasons else SUCCESS, reasons, notes)

    def _check_ref(
        self,
        prop: str,
        ref: Any,
        allowed: tuple[str, ...],
        lookup: StatementLookup | None,
        depth: int,
        reasons: list[Reason],
        notes: list[str],
    ) -> None:
        where = "object" if prop.startswith("object") else "context.statement"
        if not (
            type(ref) is dict
            and ref.get("objectType") == "StatementRef"
            and isinstance(ref.get("id"), str)
        ):
            reasons.append(Reason(prop, f"{where} is not a StatementRef", found=[ref]))
            return
        ref_id = ref["id"]
        other = lookup(ref_id) if lookup is not None else None
        if other is None:
            notes.append(f"{prop}: statement {ref_id} is not available; not verified")
            return
        if depth >= MAX_REF_DEPTH:
            notes.append(f"{prop}: StatementRef chain deeper than {MAX_REF_DEPTH}; not verified")
            return
        outcomes: dict[str, str] = {}
        for template_id in allowed:
            template = self.resolve(template_id) if self.resolve is not None else None
            if template is None:
                outcomes[template_id] = "unknown template"
                continue
            result = template.match(other, lookup, _depth=depth + 1)
            if result.success:
                notes.extend(result.notes)  # e.g. an unverified reference further down
                return
            outcomes[template_id] = result.outcome
        reasons.append(
            Reason(
                prop,
                f"referenced statement {ref_id} matches none of the listed templates",
                found=[outcomes],
            )
        )


def compile_template(
    raw: Mapping[str, Any],
    profile_id: str | None = None,
    resolve: TemplateResolver | None = None,
) -> CompiledTemplate:
    """Compile a template node; raises ProfileError when it cannot be evaluated at all."""
    return CompiledTemplate(raw, profile_id, resolve)


def _compile(text: Any, where: str) -> CompiledPath:
    if not isinstance(text, str):
        raise ProfileError(f"{where}: must be a JSONPath string")
    try:
        return compile_path(text)
    except JSONPathError as exc:
        raise ProfileError(f"{where}: {exc}") from exc


def _value_set(values: Any) -> frozenset[Any] | None:
    """Absent or empty arrays mean "no requirement" (lenient reading; the checker flags them)."""
    if values is None:
        return None
    values = _as_list(values)
    if not values:
        return None
    return frozenset(value_key(v) for v in values)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _activity_types(activities: Any) -> set[str]:
    if type(activities) is dict:
        activities = [activities]
    if type(activities) is not list:
        return set()
    types = set()
    for activity in activities:
        if type(activity) is dict:
            definition = activity.get("definition")
            if type(definition) is dict:
                kind = definition.get("type")
                if isinstance(kind, str):
                    types.add(kind)
    return types


def _lookup(refs: StatementLookup | Mapping[str, dict[str, Any]] | None) -> StatementLookup | None:
    if refs is None or callable(refs):
        return refs
    return refs.get
