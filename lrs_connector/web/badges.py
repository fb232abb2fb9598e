"""Public Open Badges 2.0 documents and images under ``/badges/`` (read-only, cacheable).

| path | answer |
|---|---|
| ``/badges/issuer`` | the Issuer profile (JSON-LD) |
| ``/badges/issuer/revocations`` | the issuer's RevocationList (JSON-LD) |
| ``/badges/classes/<id>`` | a BadgeClass (JSON-LD) |
| ``/badges/classes/<id>/image.png`` / ``.svg`` | its image |
| ``/badges/assertions/<uuid>`` | an Assertion (JSON-LD); 410 with ``revoked: true`` once revoked |
| ``/badges/assertions/<uuid>/image.png`` / ``.svg`` | its image, baked with the assertion |

Callers: anyone (verifiers, backpacks and LMS pages fetch these without credentials). They
carry no personal data: assertions are named by random UUIDs and hold only a salted hash of
the recipient's email. 404 (JSON error shape) for anything unknown, and for everything while
badges are not configured (``badges_issuer_email``).
"""

from __future__ import annotations

import functools

import orjson
from flask import Blueprint, Response, current_app, request

from lrs_connector import badges as core
from lrs_connector.badges import baking, documents, images
from lrs_connector.store import badges as store
from lrs_connector.store import database
from lrs_connector.web.access import public
from lrs_connector.web.errors import error_response

bp = Blueprint("badges", __name__, url_prefix="/badges")

# Seconds a cache may keep an answer: documents that never change for a day, those that
# change on revocation for five minutes (a revocation shows within that time).
STABLE = 86_400
CHANGING = 300
_IMAGE_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
# An SVG opened on its own runs nothing and loads nothing.
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


@functools.lru_cache(maxsize=8)
def _config_for(settings) -> core.BadgeConfig:
    return core.config_from_settings(settings)


def _config() -> core.BadgeConfig | None:
    try:
        cfg = _config_for(current_app.extensions["lrs_settings"])
    except core.BadgeConfigError:
        return None
    return cfg if cfg.enabled else None


def _not_found(what: str) -> Response:
    return error_response(404, "not-found", what)


def _off() -> Response:
    return _not_found("badges are not issued here (no issuer contact address configured)")


def _answer(body: bytes, mimetype: str, max_age: int, status: int = 200) -> Response:
    response = Response(body, status=status, mimetype=mimetype)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if mimetype == "image/svg+xml":
        response.headers["Content-Security-Policy"] = SVG_POLICY
    if status == 200:
        response.add_etag()
        response.make_conditional(request)
    return response


def _json(document: dict, max_age: int, status: int = 200) -> Response:
    return _answer(orjson.dumps(document), documents.MEDIA_TYPE, max_age, status)


def _engine():
    return current_app.extensions["lrs_engine"]


@bp.get("/issuer")
@public
def issuer():
    """Callers: anyone. The Issuer profile."""
    cfg = _config()
    if cfg is None:
        return _off()
    return _json(documents.issuer(cfg), CHANGING)


@bp.get("/issuer/revocations")
@public
def revocations():
    """Callers: anyone. The RevocationList: every revoked assertion and why."""
    cfg = _config()
    if cfg is None:
        return _off()
    with database.read(_engine()) as conn:
        revoked = store.revoked(conn)
    return _json(documents.revocation_list(cfg, revoked), CHANGING)


def _class(class_id: str):
    if not core.CLASS_ID.match(class_id):
        return None
    with database.read(_engine()) as conn:
        return store.badge_class(conn, class_id)


@bp.get("/classes/<class_id>")
@public
def badge_class(class_id: str):
    """Callers: anyone. A BadgeClass (one role and level)."""
    cfg = _config()
    if cfg is None:
        return _off()
    found = _class(class_id)
    if found is None:
        return _not_found("no such badge class")
    return _json(documents.badge_class(cfg, found), CHANGING)


@bp.get("/classes/<class_id>/image.<kind>")
@public
def class_image(class_id: str, kind: str):
    """Callers: anyone. The image of a BadgeClass (no date: it stands for every award)."""
    cfg = _config()
    if cfg is None:
        return _off()
    found = _class(class_id) if kind in _IMAGE_TYPES else None
    if found is None:
        return _not_found("no such badge class image")
    badge = images.badge_for(found.role_name, found.level, cfg.levels, issuer=cfg.issuer_name)
    body = images.png(badge) if kind == "png" else images.svg(badge).encode()
    return _answer(body, _IMAGE_TYPES[kind], STABLE)


def _assertion(assertion_id: str):
    if not core.ASSERTION_ID.match(assertion_id):
        return None
    with database.read(_engine()) as conn:
        return store.assertion(conn, assertion_id)


@bp.get("/assertions/<assertion_id>")
@public
def assertion(assertion_id: str):
    """Callers: anyone. An Assertion; once revoked, 410 Gone with ``revoked: true`` and the
    reason (OB 2.0 hosted verification)."""
    cfg = _config()
    if cfg is None:
        return _off()
    found = _assertion(assertion_id)
    if found is None:
        return _not_found("no such assertion")
    record, _ = found
    status = 410 if record.revoked else 200
    return _json(documents.assertion(cfg, record), CHANGING, status)


@bp.get("/assertions/<assertion_id>/image.<kind>")
@public
def assertion_image(assertion_id: str, kind: str):
    """Callers: anyone. The award's image (role, level, date) baked with the assertion: PNG
    with an ``openbadges`` iTXt chunk, SVG with ``<openbadges:assertion verify=…>``. 410 once
    revoked (a revoked badge has no image to show)."""
    cfg = _config()
    if cfg is None:
        return _off()
    found = _assertion(assertion_id) if kind in _IMAGE_TYPES else None
    if found is None:
        return _not_found("no such assertion image")
    record, badge_class_record = found
    if record.revoked:
        return _json(documents.assertion(cfg, record), CHANGING, 410)
    badge = images.badge_for(
        badge_class_record.role_name, badge_class_record.level, cfg.levels,
        date=record.issued_on.date().isoformat(), issuer=cfg.issuer_name,
    )
    text = orjson.dumps(documents.assertion(cfg, record)).decode()
    if kind == "png":
        body = baking.bake_png(images.png(badge), text)
    else:
        body = baking.bake_svg(images.svg(badge), cfg.urls.assertion(record.id), text).encode()
    return _answer(body, _IMAGE_TYPES[kind], CHANGING)
