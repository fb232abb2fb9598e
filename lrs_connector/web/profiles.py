"""``POST /api/v1/profiles/match``: auditors check statements against xAPI Profile templates.

Request body (JSON object; the whole body is bounded by MAX_CONTENT_LENGTH):

* ``statements`` (required): one statement or an array of 1 to ``MAX_STATEMENTS``.
* ``profile`` (optional): one profile document. It is loaded next to the bundled profiles (so it
  may reuse their concepts) and replaces a bundled profile with the same id. It is checked
  leniently; problems that make it unusable are a 400.
* ``profile_id`` (optional): only that profile's templates (a profile or version id).
* ``template`` (optional): only that template.
* ``statement_refs`` (optional): up to ``MAX_STATEMENTS`` statements that StatementRefs may point
  to (the request's own statements are always available).
* ``include_unmatched`` (optional boolean): also list templates that do not apply.

Answer 200: ``{"profiles": [ids], "results": [one entry per statement, as the CLI prints]}``.
Bad input: 400 ``{"error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from flask import Blueprint, jsonify, request

from lrs_connector.profiles import (
    ProfileError,
    ProfileSet,
    check,
    profile_from_document,
)
from lrs_connector.profiles.checking import ERROR
from lrs_connector.web.access import require_role
from lrs_connector.web.errors import error_response

bp = Blueprint("profiles", __name__, url_prefix="/api/v1/profiles")

MAX_STATEMENTS = 500
_MAX_REPORTED = 5


class _BadRequest(Exception):
    def __init__(self, code: str, message: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.field, self.extra = code, message, field, extra


@functools.cache
def _bundled_set() -> ProfileSet:
    """Compiled once per process; templates are compiled lazily and cached inside."""
    return ProfileSet.bundled()


@bp.post("/match")
@require_role("auditor")
def match():
    """Callers: auditors and admins. Per statement, each template's outcome with reasons."""
    try:
        body = _body()
        profile_set = _profile_set(body.get("profile"))
        options = _options(body, profile_set)
        statements = _statements(body.get("statements"), "statements", required=True)
        refs = _statements(body.get("statement_refs"), "statement_refs", required=False)
    except _BadRequest as exc:
        return error_response(400, exc.code, exc.message, field=exc.field, **exc.extra)
    known = {s["id"]: s for s in [*refs, *statements] if isinstance(s.get("id"), str)}
    try:
        results = [
            profile_set.match_statement(
                statement,
                profile_id=options["profile_id"],
                template_ids=options["template_ids"],
                statement_refs=known,
            ).as_dict(include_unmatched=options["include_unmatched"])
            for statement in statements
        ]
    except ProfileError as exc:  # a bundled or supplied template that cannot be evaluated
        return error_response(400, "invalid-profile", str(exc), field="profile")
    return jsonify({"profiles": [p.id for p in profile_set.profiles], "results": results})


def _body() -> dict[str, Any]:
    data = request.get_data(cache=False)
    if not data.strip():
        raise _BadRequest("empty-body", "the request body is empty; send a JSON object")
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _BadRequest("malformed-json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _BadRequest("invalid-body", "the body must be a JSON object")
    unknown = sorted(
        set(body)
        - {"statements", "profile", "profile_id", "template", "statement_refs", "include_unmatched"}
    )
    if unknown:
        raise _BadRequest("unknown-field", f"unknown field {unknown[0]!r}", unknown[0])
    return body


def _profile_set(document: Any) -> ProfileSet:
    bundled = _bundled_set()
    if document is None:
        return bundled
    if not isinstance(document, dict):
        raise _BadRequest(
            "invalid-field", "profile must be a profile document (an object)", "profile"
        )
    try:
        supplied = profile_from_document(document, "request profile")
        others = [p for p in bundled.profiles if p.id != supplied.id]
        profile_set = ProfileSet([*others, supplied])
    except ProfileError as exc:
        raise _BadRequest("invalid-profile", str(exc), "profile") from None
    errors = [f for f in check(profile_set, strict=False) if f.severity == ERROR]
    if errors:
        raise _BadRequest(
            "invalid-profile",
            f"the profile cannot be used: {errors[0]}",
            "profile",
            problems=[f.as_dict() for f in errors[:_MAX_REPORTED]],
        )
    return profile_set


def _options(body: dict[str, Any], profile_set: ProfileSet) -> dict[str, Any]:
    profile_id = body.get("profile_id")
    if profile_id is not None:
        if not isinstance(profile_id, str):
            raise _BadRequest("invalid-field", "profile_id must be a string", "profile_id")
        try:
            profile_id = profile_set.profile(profile_id).id
        except KeyError:
            raise _BadRequest(
                "unknown-profile", f"no loaded profile {profile_id}", "profile_id"
            ) from None
    template = body.get("template")
    template_ids = None
    if template is not None:
        if not isinstance(template, str):
            raise _BadRequest("invalid-field", "template must be a string", "template")
        if profile_set.template_node(template) is None:
            raise _BadRequest("unknown-template", f"no loaded template {template}", "template")
        owner = profile_set.owner(template)
        if profile_id is not None and owner is not None and owner.id != profile_id:
            raise _BadRequest(
                "unknown-template", f"{template} is not in profile {profile_id}", "template"
            )
        template_ids = [template]
    include_unmatched = body.get("include_unmatched", False)
    if not isinstance(include_unmatched, bool):
        raise _BadRequest(
            "invalid-field", "include_unmatched must be a boolean", "include_unmatched"
        )
    return {
        "profile_id": profile_id,
        "template_ids": template_ids,
        "include_unmatched": include_unmatched,
    }


def _statements(value: Any, field: str, *, required: bool) -> list[dict[str, Any]]:
    if value is None:
        if required:
            raise _BadRequest("missing-field", f"{field} is required", field)
        return []
    statements = value if isinstance(value, list) else [value]
    if required and not statements:
        raise _BadRequest("invalid-field", f"{field} must not be empty", field)
    if len(statements) > MAX_STATEMENTS:
        raise _BadRequest(
            "too-many-statements",
            f"{field} has {len(statements)} statements; at most {MAX_STATEMENTS}",
            field,
        )
    for index, statement in enumerate(statements):
        if not isinstance(statement, dict):
            raise _BadRequest(
                "invalid-field", f"{field}[{index}] must be a statement object", f"{field}[{index}]"
            )
    return statements
