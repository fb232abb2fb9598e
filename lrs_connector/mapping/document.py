"""Mapping rule files (YAML or JSON): parsed, validated with marshmallow, every problem located.

A problem names the file, the rule (its id, or its position when the id itself is wrong) and
the field (a dotted path such as ``match.score.scaled_min``), so an analyst can fix a file in
one pass: all problems are reported at once, not the first only. docs/mapping.md describes
the format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
MAX_RULES = 5000
MAX_LIST = 500
RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
KINDS = ("knowledge", "practice", "feedback")
POLARITIES = ("positive", "negative")
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    rule: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.rule is not None:
            where.append(f"rule {self.rule}")
        if self.field:
            where.append(f"field {self.field}")
        return f"{', '.join(where)}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "rule": self.rule, "field": self.field, "message": self.message}


class MappingError(ValueError):
    """A mapping document cannot be used; ``problems`` lists every fault found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} problem(s): {shown}{more}")


def _check_iri(value: str) -> None:
    if not _IRI.match(value):
        raise ValidationError("must be an absolute IRI (e.g. https://example.org/x)")


class OneOrMany(fields.Field):
    """A string or a list of strings (``verb: X`` or ``verb: [X, Y]``), always a tuple."""

    def __init__(self, *, iri: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.iri = iri

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> tuple[str, ...]:
        items = value if isinstance(value, list) else [value]
        if not items or len(items) > MAX_LIST:
            raise ValidationError(f"give 1 to {MAX_LIST} values")
        out = []
        for item in items:
            if not isinstance(item, str) or not item or len(item) > 2048:
                raise ValidationError("must be a non-empty string (or a list of them)")
            if self.iri:
                _check_iri(item)
            out.append(item)
        return tuple(out)


class AnyValue(fields.Field):
    """A JSON value compared with statement values (scalars, lists, objects)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        return value


class ConditionSchema(Schema):
    class Meta:
        unknown = RAISE

    path = fields.String(validate=validate.Length(1, 1000))
    extension = fields.String(validate=[validate.Length(1, 2048), _check_iri])
    equals = AnyValue(allow_none=True)
    in_ = fields.List(
        AnyValue(allow_none=True), data_key="in", validate=validate.Length(1, MAX_LIST)
    )
    contains = AnyValue()
    exists = fields.Boolean()
    min = fields.Float(allow_nan=False)
    max = fields.Float(allow_nan=False)

    @validates_schema
    def _one_operator(self, data: dict[str, Any], **_: Any) -> None:
        operators = [k for k in ("equals", "in_", "contains", "exists", "min", "max") if k in data]
        if not operators:
            raise ValidationError(
                "give at least one of equals, in, contains, exists, min, max", "_schema"
            )


class ScoreSchema(Schema):
    class Meta:
        unknown = RAISE

    scaled_min = fields.Float(validate=validate.Range(-1, 1), allow_nan=False)
    scaled_max = fields.Float(validate=validate.Range(-1, 1), allow_nan=False)
    raw_min = fields.Float(allow_nan=False)
    raw_max = fields.Float(allow_nan=False)

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        for low, high in (("scaled_min", "scaled_max"), ("raw_min", "raw_max")):
            if low in data and high in data and data[low] > data[high]:
                raise ValidationError(f"must not exceed {high}", low)
        if not data:
            raise ValidationError("give at least one threshold", "_schema")


class MatchSchema(Schema):
    class Meta:
        unknown = RAISE

    template = fields.String(validate=[validate.Length(1, 2048), _check_iri])
    verb = OneOrMany()
    activity_id = OneOrMany()
    activity_id_prefix = OneOrMany(iri=False)
    activity_type = OneOrMany()
    success = fields.Boolean()
    pass_mark = fields.Float(validate=validate.Range(-1, 1), allow_nan=False)
    completion = fields.Boolean()
    score = fields.Nested(ScoreSchema)
    context_extensions = fields.List(
        fields.Nested(ConditionSchema), validate=validate.Length(1, MAX_LIST)
    )
    jsonpath = fields.List(fields.Nested(ConditionSchema), validate=validate.Length(1, MAX_LIST))

    @validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError(
                "a rule must match on something: a template and/or predicates", "_schema"
            )
        if "pass_mark" in data and "success" not in data:
            raise ValidationError("pass_mark only makes sense with success", "pass_mark")
        for position, condition in enumerate(data.get("context_extensions", [])):
            if "extension" not in condition or "path" in condition:
                raise ValidationError(
                    {position: {"extension": ["give the extension IRI (and no path)"]}},
                    "context_extensions",
                )
        for position, condition in enumerate(data.get("jsonpath", [])):
            if "path" not in condition or "extension" in condition:
                raise ValidationError(
                    {position: {"path": ["give a JSONPath (and no extension)"]}}, "jsonpath"
                )


class TargetSchema(Schema):
    class Meta:
        unknown = RAISE

    target = fields.String(required=True, validate=[validate.Length(1, 2048), _check_iri])
    weight = fields.Float(load_default=1.0, validate=validate.Range(0, 100, min_inclusive=False))
    polarity = fields.String(load_default="positive", validate=validate.OneOf(POLARITIES))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    confidence = fields.Float(load_default=1.0, validate=validate.Range(0, 1))
    valid_days = fields.Integer(validate=validate.Range(1, 36500))


class RuleSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(
        required=True,
        validate=validate.Regexp(
            RULE_ID, error="1-200 letters, digits, '.', '_', ':' or '-', starting alphanumeric"
        ),
    )
    description = fields.String(required=True, validate=validate.Length(1, 2000))
    match = fields.Nested(MatchSchema, required=True)
    targets = fields.List(
        fields.Nested(TargetSchema), required=True, validate=validate.Length(1, 100)
    )


class DocumentSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # room for comments and tooling keys at the top level

    name = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(load_default="", validate=validate.Length(0, 5000))
    framework = fields.String(validate=_check_iri)
    rules = fields.List(fields.Raw(), required=True, validate=validate.Length(1, MAX_RULES))


def parse_text(text: str | bytes, file: str) -> Any:
    """YAML (a superset of JSON) or JSON text into data; a problem if it is neither."""
    if isinstance(text, bytes):
        if len(text) > MAX_DOCUMENT_BYTES:
            raise MappingError([Problem(file, None, None, "larger than 2 MiB")])
        text = text.decode("utf-8", errors="replace")
    if len(text) > MAX_DOCUMENT_BYTES:
        raise MappingError([Problem(file, None, None, "larger than 2 MiB")])
    try:
        if file.endswith(".json"):
            return json.loads(text)
        return yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise MappingError([Problem(file, None, None, f"not valid YAML/JSON: {exc}")]) from None


def validate_document(
    data: Any,
    file: str,
    extra_checks: Callable[[dict[str, Any], str, list[Problem]], None] | None = None,
) -> dict[str, Any]:
    """The document with defaults filled in, or MappingError with every problem found.

    ``extra_checks(rule, rule_label, problems)`` adds checks that need context the schema does
    not have (templates in the loaded profiles, targets in the framework).
    """
    if not isinstance(data, dict):
        raise MappingError([Problem(file, None, None, "the document must be a mapping/object")])
    problems: list[Problem] = []
    try:
        document = DocumentSchema().load(data)
    except ValidationError as exc:
        for field_name, message in _flatten(exc.messages):
            problems.append(Problem(file, None, field_name, message))
        raise MappingError(problems) from None
    rules: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for position, raw in enumerate(document["rules"]):
        label = _label(raw, position)
        if not isinstance(raw, dict):
            problems.append(Problem(file, label, None, "a rule must be a mapping/object"))
            continue
        try:
            rule = RuleSchema().load(raw)
        except ValidationError as exc:
            for field_name, message in _flatten(exc.messages):
                problems.append(Problem(file, label, field_name, message))
            continue
        if rule["id"] in seen:
            problems.append(
                Problem(file, label, "id", f"duplicate rule id (also rule #{seen[rule['id']] + 1})")
            )
            continue
        seen[rule["id"]] = position
        if extra_checks is not None:
            extra_checks(rule, label, problems)
        rules.append(rule)
    if problems:
        raise MappingError(problems)
    document["rules"] = rules
    return document


def _label(raw: Any, position: int) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("id"), str) and RULE_ID.match(raw["id"]):
        return raw["id"]
    return f"#{position + 1}"


def _flatten(messages: Any, path: tuple = ()) -> list[tuple[str | None, str]]:
    """marshmallow's nested message dicts → (dotted field path, message) pairs."""
    out: list[tuple[str | None, str]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            step = () if key == "_schema" else (str(key),)
            out.extend(_flatten(value, path + step))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        name = ".".join(path).replace(".in_", ".in") or None
        out.extend((name, _readable(m)) for m in messages)
    elif isinstance(messages, list):
        for item in messages:
            out.extend(_flatten(item, path))
    else:
        out.append((".".join(path) or None, str(messages)))
    return out


def _readable(message: str) -> str:
    if message == "Unknown field.":
        return "unknown field (check the spelling; docs/mapping.md lists the fields)"
    if message == "Missing data for required field.":
        return "required"
    return message
