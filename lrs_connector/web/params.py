"""The one way admin-API views read their input: path values, query parameters and JSON bodies
are loaded with marshmallow schemas, and every refusal is an :class:`ApiError` naming the field
(``path.learner_id``, ``query.limit``, ``body.rules[2].match``).

A view declares its input and answers once, with :func:`operation`; the same declaration
parses each request and describes the operation in the OpenAPI document (web/openapi.py)::

    @bp.get("/things")
    @require_role("auditor")
    @operation(query=ThingsQuery, responses={200: ThingsPage}, errors=(404,))
    def list_things(query): ...

Lists page with opaque cursors (:func:`cursor_page`): the answer carries ``next_cursor`` and a
``next`` link, both null on the last page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import Any
from urllib.parse import urlencode

import orjson
from flask import request
from marshmallow import RAISE, Schema, ValidationError, fields

from lrs_connector.web.bodies import request_body
from lrs_connector.web.errors import ApiError

#: At most this many field problems are listed in one error answer.
MAX_PROBLEMS = 20
MAX_CURSOR = 512
_JSON_TYPES = ("application/json",)


class StrictBoolean(fields.Boolean):
    """JSON true or false only (marshmallow's Boolean would also take "yes", 1, "on", …)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value is True or value is False:
            return value
        raise self.make_error("invalid", input=value)


class QueryBoolean(fields.Boolean):
    """A query-string boolean: the words true or false."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("true", "false"):
            return value == "true"
        raise ValidationError("true or false")


class StrictSchema(Schema):
    """Unknown names are refused (a typo must not be ignored silently)."""

    class Meta:
        unknown = RAISE


# -- errors ---------------------------------------------------------------------------------


def _paths(messages: Any, path: str) -> list[tuple[str, str]]:
    """marshmallow's nested messages → (path, message) pairs, paths like rules[2].match."""
    out: list[tuple[str, str]] = []
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            if key == "_schema":
                step = path
            elif isinstance(key, int):
                step = f"{path}[{key}]"
            else:
                step = f"{path}.{key}"
            out.extend(_paths(value, step))
    elif isinstance(messages, list | tuple):
        for item in messages:
            out.extend(_paths(item, path))
    else:
        out.append((path, str(messages)))
    return out


def _refusal(exc: ValidationError, where: str) -> ApiError:
    problems = _paths(exc.messages, where)[:MAX_PROBLEMS]
    path, message = problems[0]
    noun = "parameter" if where == "query" else "field"
    if message == "Unknown field.":
        names = sorted(p.rsplit(".", 1)[-1] for p, m in problems if m == "Unknown field.")
        code, message = f"unknown-{noun}", f"unknown {noun} {', '.join(names)}"
    elif message == "Missing data for required field.":
        code, message = f"missing-{noun}", f"{path} is required"
    else:
        code, message = f"invalid-{noun}", f"{path}: {message}"
    return ApiError(
        400,
        code,
        message,
        field=path,
        problems=[{"field": p, "message": m} for p, m in problems] if len(problems) > 1 else None,
    )


# -- loading --------------------------------------------------------------------------------


def _check_text(value: Any, path: str) -> None:
    """Text the databases can store: no NUL character (PostgreSQL refuses it) and no lone
    surrogate (not encodable as UTF-8)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ApiError(422, "invalid-text", f"{path}: text must not contain NUL characters",
                           field=path)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(422, "invalid-text", f"{path}: text is not valid Unicode",
                           field=path) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, path)
            _check_text(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, f"{path}[{index}]")


def load_query(schema: Schema) -> dict[str, Any]:
    """The query string through `schema`; a parameter given twice or unknown is a 400."""
    repeated = [name for name in request.args if len(request.args.getlist(name)) > 1]
    if repeated:
        raise ApiError(
            400,
            "invalid-parameter",
            f"query parameter {repeated[0][:100]} is given more than once",
            field=f"query.{repeated[0][:100]}",
        )
    given = request.args.to_dict()
    _check_text(given, "query")
    try:
        return schema.load(given)
    except ValidationError as exc:
        raise _refusal(exc, "query") from None


def load_path(schema: Schema, values: dict[str, Any]) -> dict[str, Any]:
    _check_text(values, "path")
    try:
        return schema.load(values)
    except ValidationError as exc:
        raise _refusal(exc, "path") from None


def _check_content_type() -> None:
    given = (request.mimetype or "").lower()
    if given and given not in _JSON_TYPES and not given.endswith("+json"):
        raise ApiError(
            415,
            "unsupported-media-type",
            f"send the body as application/json, not {given[:100]}",
            field="body",
        )


def read_json(*, required: bool = True) -> Any:
    """The body parsed as JSON (orjson), bounded by MAX_CONTENT_LENGTH; None when empty and
    not required."""
    data = request_body(cache=True)
    if not data.strip():
        if required:
            raise ApiError(400, "empty-body", "the request body is empty; send JSON", "body")
        return None
    _check_content_type()
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400, "malformed-json", f"the body is not valid JSON: {exc}", field="body"
        ) from None


def load_body(schema: Schema, *, required: bool = True) -> dict[str, Any]:
    """A JSON object body through `schema`. An optional body may be absent (then {})."""
    body = read_json(required=required)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ApiError(400, "invalid-body", "the body must be a JSON object", field="body")
    _check_text(body, "body")
    try:
        return schema.load(body)
    except ValidationError as exc:
        raise _refusal(exc, "body") from None


# -- cursors --------------------------------------------------------------------------------


def encode_cursor(kind: str, key: int | str) -> str:
    """Opaque to callers: which list it pages and the last key seen."""
    raw = orjson.dumps([kind, key])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, key_type: type, highest: int = 2**63 - 1) -> Any:
    """The last key seen, from a cursor this list handed out; anything else is a 422 (the
    document allows any short string, so a cursor from elsewhere is refused for its content)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        decoded = None
    if (
        isinstance(decoded, list)
        and len(decoded) == 2
        and decoded[0] == kind
        and type(decoded[1]) is key_type
        and not (key_type is int and not 0 <= decoded[1] <= highest)
        and not (key_type is str and "\x00" in decoded[1])
    ):
        return decoded[1]
    raise ApiError(
        422,
        "invalid-cursor",
        "cursor is not one this list handed out; start again without it",
        field="query.cursor",
    )


def cursor_page(
    rows: list, *, limit: int, kind: str, key: Callable[[Any], int | str]
) -> tuple[list, dict[str, str | None]]:
    """Rows fetched with ``limit + 1`` → (the page, {"next_cursor", "next"}). ``next`` is this
    request's path and query with the cursor advanced (relative, so it survives proxies)."""
    if len(rows) <= limit:
        return rows, {"next_cursor": None, "next": None}
    rows = rows[:limit]
    cursor = encode_cursor(kind, key(rows[-1]))
    args = {k: v for k, v in request.args.items() if k != "cursor"}
    args["cursor"] = cursor
    return rows, {"next_cursor": cursor, "next": f"{request.path}?{urlencode(args)}"}


def after_cursor(kind: str, cursor: str | None, key_type: type, start: Any,
                 highest: int = 2**63 - 1) -> Any:
    """The key to page after: `start` without a cursor. `highest` bounds integer keys to the
    column's range (a forged cursor must not overflow a 32-bit id column)."""
    return start if cursor is None else decode_cursor(kind, cursor, key_type, highest)


# -- declaring operations -------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """What a view takes and answers; web/openapi.py turns it into the OpenAPI operation."""

    summary: str
    description: str
    tags: tuple[str, ...]
    path: type[Schema] | None = None
    query: type[Schema] | None = None
    body: type[Schema] | None = None
    body_required: bool = True
    raw_body: str | None = None  # a JSON body the view reads itself (described here)
    responses: dict[int, Any] = field(default_factory=dict)
    errors: tuple[int, ...] = ()


def operation(
    *,
    responses: dict[int, Any],
    path: type[Schema] | None = None,
    query: type[Schema] | None = None,
    body: type[Schema] | None = None,
    body_required: bool = True,
    raw_body: str | None = None,
    errors: tuple[int, ...] = (),
    tags: tuple[str, ...] = (),
) -> Callable[[Callable], Callable]:
    """Parse and document one view. The view gets ``query=`` and ``body=`` (loaded dicts) when
    declared; path values are loaded through `path` and passed as loaded. Without a `query`
    schema any query parameter is refused. Put it below the access decorator, so callers are
    checked before their input."""

    def decorate(view: Callable) -> Callable:
        doc = (view.__doc__ or "").strip()
        summary, _, rest = doc.partition("\n")
        meta = Operation(
            summary=summary.strip().rstrip("."),
            description=" ".join(rest.split()),
            tags=tags,
            path=path,
            query=query,
            body=body,
            body_required=body_required,
            raw_body=raw_body,
            responses=responses,
            errors=errors,
        )

        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            if path is not None:
                kwargs.update(load_path(path(), kwargs))
            loaded_query = load_query((query or StrictSchema)())
            if query is not None:
                kwargs["query"] = loaded_query
            if body is not None:
                kwargs["body"] = load_body(body(), required=body_required)
            return view(*args, **kwargs)

        wrapper.api = meta
        return wrapper

    return decorate
