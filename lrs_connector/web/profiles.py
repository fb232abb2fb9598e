"""``POST /api/v1/profiles/match``: auditors check statements against xAPI Profile templates.

Request body (JSON object; the whole body is bounded by MAX_CONTENT_LENGTH), see
:class:`~lrs_connector.web.schemas.MatchBody`:

* ``statements`` (required): one statement or an array of 1 to ``MAX_STATEMENTS``.
* ``profile`` (optional): one profile document. It is loaded next to the bundled profiles (so it
  may reuse their concepts) and replaces a bundled profile with the same id. It is checked
  leniently; problems that make it unusable are a 422.
* ``profile_id`` (optional): only that profile's templates (a profile or version id).
* ``template`` (optional): only that template.
* ``statement_refs`` (optional): up to ``MAX_STATEMENTS`` statements that StatementRefs may point
  to (the request's own statements are always available).
* ``include_unmatched`` (optional boolean): also list templates that do not apply.

Answer 200: ``{"profiles": [ids], "results": [one entry per statement, as the CLI prints]}``.
A body not of that shape is a 400; an unusable profile or an unknown profile or template a 422.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import Blueprint, jsonify

from lrs_connector.profiles import (
    ProfileError,
    ProfileSet,
    check,
    profile_from_document,
)
from lrs_connector.profiles.checking import ERROR
from lrs_connector.web import schemas as s
from lrs_connector.web.access import require_role
from lrs_connector.web.errors import ApiError
from lrs_connector.web.params import operation

bp = Blueprint("profiles", __name__, url_prefix="/api/v1/profiles")

MAX_STATEMENTS = s.MAX_STATEMENTS
_MAX_REPORTED = 5


@functools.cache
def _bundled_set() -> ProfileSet:
    """Compiled once per process; templates are compiled lazily and cached inside."""
    return ProfileSet.bundled()


@bp.post("/match")
@require_role("auditor")
@operation(body=s.MatchBody, responses={200: s.MatchResult}, errors=(422,), tags=("profiles",))
def match(body: dict[str, Any]):
    """Check statements against xAPI Profile templates.

    Per statement, each template's outcome with its reasons; optionally with a profile
    document supplied in the request.
    """
    profile_set = _profile_set(body.get("profile"))
    options = _options(body, profile_set)
    statements = body["statements"]
    refs = body.get("statement_refs", [])
    known = {st["id"]: st for st in [*refs, *statements] if isinstance(st.get("id"), str)}
    try:
        results = [
            profile_set.match_statement(
                statement,
                profile_id=options["profile_id"],
                template_ids=options["template_ids"],
                statement_refs=known,
            ).as_dict(include_unmatched=body["include_unmatched"])
            for statement in statements
        ]
    except ProfileError as exc:  # a bundled or supplied template that cannot be evaluated
        raise ApiError(422, "invalid-profile", str(exc), field="body.profile") from None
    return jsonify({"profiles": [p.id for p in profile_set.profiles], "results": results})


def _profile_set(document: dict[str, Any] | None) -> ProfileSet:
    bundled = _bundled_set()
    if document is None:
        return bundled
    try:
        supplied = profile_from_document(document, "request profile")
        others = [p for p in bundled.profiles if p.id != supplied.id]
        profile_set = ProfileSet([*others, supplied])
    except ProfileError as exc:
        raise ApiError(422, "invalid-profile", str(exc), "body.profile") from None
    errors = [f for f in check(profile_set, strict=False) if f.severity == ERROR]
    if errors:
        raise ApiError(
            422,
            "invalid-profile",
            f"the profile cannot be used: {errors[0]}",
            "body.profile",
            problems=[f.as_dict() for f in errors[:_MAX_REPORTED]],
        )
    return profile_set


def _options(body: dict[str, Any], profile_set: ProfileSet) -> dict[str, Any]:
    profile_id = body.get("profile_id")
    if profile_id is not None:
        try:
            profile_id = profile_set.profile(profile_id).id
        except KeyError:
            raise ApiError(
                422, "unknown-profile", f"no loaded profile {profile_id}", "body.profile_id"
            ) from None
    template = body.get("template")
    template_ids = None
    if template is not None:
        if profile_set.template_node(template) is None:
            raise ApiError(
                422, "unknown-template", f"no loaded template {template}", "body.template"
            )
        owner = profile_set.owner(template)
        if profile_id is not None and owner is not None and owner.id != profile_id:
            raise ApiError(
                422,
                "unknown-template",
                f"{template} is not in profile {profile_id}",
                "body.template",
            )
        template_ids = [template]
    return {"profile_id": profile_id, "template_ids": template_ids}
