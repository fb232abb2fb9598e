"""The native framework document (JSON): validation with marshmallow, loading, the bundled one.

The document is what :meth:`Framework.as_document` writes. Validation reports the first fault
as a :class:`FrameworkError` naming the item (e.g. ``competencies[3]`` plus its IRI when it has
one) and the field; ``all_problems`` lists every fault for tools that want them all. Sizes are
bounded so that an uploaded document cannot exhaust memory.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from lrs_connector.frameworks.model import (
    FORMAT,
    FORMAT_VERSION,
    Competency,
    Dimension,
    Framework,
    FrameworkError,
    Link,
    ProficiencyLevel,
    Requirement,
    Role,
    build,
)

BUNDLED_PACKAGE = "xapi_profiles"
BUNDLED_FILE = "lnd-leadership-framework.json"
BUNDLED_IRI = "https://lrs-connector.dev/frameworks/lnd-leadership"

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_COMPETENCIES = 5_000
MAX_DIMENSIONS = 200
MAX_LEVELS = 50
MAX_ROLES = 500
MAX_REQUIREMENTS = 5_000
MAX_LINKS = 20_000
MAX_IRI = 2_048
MAX_CODE = 100
MAX_NAME = 20_000
MAX_DESCRIPTION = 20_000

_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+$")


def is_iri(value: str) -> bool:
    """An absolute IRI: a scheme, a colon, no spaces or characters IRIs forbid."""
    return bool(_IRI.match(value))


def _iri(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=[
            validate.Length(min=1, max=MAX_IRI),
            _absolute_iri,
        ],
        **kwargs,
    )


def _absolute_iri(value: str) -> None:
    if not is_iri(value):
        raise ValidationError("must be an absolute IRI (e.g. https://example.org/competencies/x)")


def _text(max_length: int, *, required: bool = True) -> fields.String:
    if required:
        return fields.String(required=True, validate=validate.Length(min=1, max=max_length))
    return fields.String(load_default="", validate=validate.Length(max=max_length))


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class LevelSchema(_Strict):
    value = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=1000))
    name = _text(MAX_NAME)
    description = _text(MAX_DESCRIPTION, required=False)


class DimensionSchema(_Strict):
    iri = _iri(required=True)
    code = _text(MAX_CODE)
    name = _text(MAX_NAME)
    description = _text(MAX_DESCRIPTION, required=False)


class CompetencySchema(_Strict):
    iri = _iri(required=True)
    code = _text(MAX_CODE)
    name = _text(MAX_NAME)
    description = _text(MAX_DESCRIPTION, required=False)
    parent = _iri(load_default=None, allow_none=True)
    kind = fields.String(load_default="competency", validate=validate.Length(min=1, max=100))
    dimensions = fields.List(
        _iri(), load_default=list, validate=validate.Length(max=MAX_DIMENSIONS)
    )


class RequirementSchema(_Strict):
    target = _iri(required=True)
    proficiency = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    weight = fields.Float(
        load_default=1.0, allow_nan=False, validate=validate.Range(min=0, min_inclusive=False)
    )


class RoleSchema(_Strict):
    iri = _iri(required=True)
    code = _text(MAX_CODE)
    name = _text(MAX_NAME)
    description = _text(MAX_DESCRIPTION, required=False)
    requirements = fields.List(
        fields.Nested(RequirementSchema),
        load_default=list,
        validate=validate.Length(max=MAX_REQUIREMENTS),
    )


class LinkSchema(_Strict):
    source = _iri(required=True)
    type = fields.String(required=True, validate=validate.Length(min=1, max=200))
    target = fields.String(required=True, validate=validate.Length(min=1, max=MAX_IRI))


class FrameworkSchema(_Strict):
    format = fields.String(load_default=FORMAT, validate=validate.Equal(FORMAT))
    format_version = fields.Integer(
        load_default=FORMAT_VERSION, strict=True, validate=validate.Equal(FORMAT_VERSION)
    )
    iri = _iri(required=True)
    version = fields.String(load_default="1", validate=validate.Length(min=1, max=100))
    name = _text(MAX_NAME)
    description = _text(MAX_DESCRIPTION, required=False)
    scale = fields.List(
        fields.Nested(LevelSchema), load_default=list, validate=validate.Length(max=MAX_LEVELS)
    )
    dimensions = fields.List(
        fields.Nested(DimensionSchema),
        load_default=list,
        validate=validate.Length(max=MAX_DIMENSIONS),
    )
    competencies = fields.List(
        fields.Nested(CompetencySchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_COMPETENCIES),
    )
    roles = fields.List(
        fields.Nested(RoleSchema), load_default=list, validate=validate.Length(max=MAX_ROLES)
    )
    links = fields.List(
        fields.Nested(LinkSchema), load_default=list, validate=validate.Length(max=MAX_LINKS)
    )
    case_details = fields.Dict(
        keys=fields.String(validate=validate.Length(max=3 * MAX_IRI + 200)),
        values=fields.String(validate=validate.Length(min=1, max=MAX_NAME + MAX_IRI)),
        load_default=dict,
    )

    @validates_schema
    def _bounded_identifiers(self, data: dict[str, Any], **_: Any) -> None:
        if len(data.get("case_details") or {}) > MAX_COMPETENCIES + MAX_DIMENSIONS + MAX_LINKS:
            raise ValidationError("too many entries", "case_details")


def all_problems(document: Any) -> list[FrameworkError]:
    """Every schema fault of a native document, each naming item and field (empty when valid)."""
    if not isinstance(document, dict):
        return [FrameworkError("a framework document must be a JSON object")]
    try:
        FrameworkSchema().load(document)
    except ValidationError as exc:
        return flatten_errors(exc.messages, document)
    return []


def framework_from_document(document: Any) -> Framework:
    """A checked :class:`Framework` from a parsed native document, or :class:`FrameworkError`."""
    problems = all_problems(document)
    if problems:
        raise problems[0]
    data = FrameworkSchema().load(document)
    return build(
        iri=data["iri"],
        version=data["version"],
        name=data["name"],
        description=data["description"],
        scale=[ProficiencyLevel(**level) for level in data["scale"]],
        dimensions=[Dimension(**d) for d in data["dimensions"]],
        competencies=[
            Competency(**{**c, "dimensions": tuple(c["dimensions"])}) for c in data["competencies"]
        ],
        roles=[
            Role(
                **{
                    **r,
                    "requirements": tuple(Requirement(**q) for q in r["requirements"]),
                }
            )
            for r in data["roles"]
        ],
        links=[Link(**k) for k in data["links"]],
        case_details=data["case_details"],
    )


def parse_json(text: str | bytes) -> Any:
    """JSON text → object, bounded in size; faults become :class:`FrameworkError`."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise FrameworkError(f"larger than the {MAX_DOCUMENT_BYTES} bytes accepted")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FrameworkError(f"not valid JSON ({exc})") from None
    except RecursionError:
        raise FrameworkError("JSON nested too deeply") from None


def loads(text: str | bytes) -> Framework:
    return framework_from_document(parse_json(text))


def dumps(framework: Framework) -> str:
    return json.dumps(framework.as_document(), indent=2, ensure_ascii=False) + "\n"


def load_file(path: Path) -> Framework:
    """A native framework file; the file name is not in the error (callers add it)."""
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise FrameworkError(f"larger than the {MAX_DOCUMENT_BYTES} bytes accepted")
    return loads(path.read_bytes())


@functools.cache
def load_bundled() -> Framework:
    """The project's L&D leadership framework, shipped as package data (parsed once)."""
    text = importlib.resources.files(BUNDLED_PACKAGE).joinpath(BUNDLED_FILE).read_text("utf-8")
    return loads(text)


def flatten_errors(messages: Any, document: Any, path: tuple = ()) -> list[FrameworkError]:
    out: list[FrameworkError] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            out.extend(flatten_errors(value, document, (*path, key)))
        return out
    texts = messages if isinstance(messages, list) else [messages]
    item, field = _locate(document, path)
    for text in texts:
        if isinstance(text, (dict, list)):
            out.extend(flatten_errors(text, document, path))
        else:
            out.append(FrameworkError(_readable(str(text)), item, field))
    return out


def _locate(document: Any, path: tuple) -> tuple[str | None, str | None]:
    """Schema error path → (item, field), e.g. ``competencies[3] (https://…)`` and ``parent``.

    The item is the outermost list entry (a competency, role, level …); the rest is the field.
    """
    if path and path[-1] == "_schema":
        path = path[:-1]
    for index, key in enumerate(path):
        if isinstance(key, int) and index > 0:
            entry = _child(_child(document, path[index - 1]), key)
            item = f"{_field_name(path[:index])}[{key}]"
            label = _label(entry)
            if label:
                item += f" ({label})"
            return item, _field_name(path[index + 1 :]) or None
    return None, _field_name(path) or None


def _label(entry: Any) -> str | None:
    """What names an entry: its IRI, else its CASE identifier or URI."""
    if not isinstance(entry, dict):
        return None
    for key in ("iri", "identifier", "uri"):
        value = entry.get(key)
        if isinstance(value, str) and value:
            return value[:200]
    return None


def _child(node: Any, key: Any) -> Any:
    if isinstance(node, dict):
        return node.get(key)
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return None


def _field_name(path: tuple) -> str:
    out = ""
    for key in path:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            out += ("." if out else "") + str(key)
    return out


def _readable(message: str) -> str:
    return {
        "Missing data for required field.": "is required",
        "Unknown field.": "is not a field of this document",
        "Invalid input type.": "must be an object",
    }.get(message, message)
