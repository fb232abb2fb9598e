"""What every web-console page shares: the session cookie, sign-in state, CSRF protection,
security headers and HTML error pages.

* Sessions: Flask's signed cookie holds a random session token and the CSRF token; the
  session itself lives in the database (`store/accounts.py`), so signing out, disabling an
  account or changing its password ends it everywhere at once.
* CSRF: every form POST carries the session's token in a hidden field (compared in constant
  time) and, when the browser sends an Origin, it must be this site. A small implementation
  rather than Flask-WTF: the consoles have a handful of forms and need no WTForms.
* Headers: a strict CSP (only this site's scripts, styles and images; no inline script),
  nosniff, no framing (except the learner page, `learner_page.py`), no caching of pages that
  show personal data.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import wraps
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

from lrs_connector import secret_key
from lrs_connector.accounts import roles
from lrs_connector.accounts import sessions as session_rules
from lrs_connector.store import accounts as account_store
from lrs_connector.store import database

log = logging.getLogger(__name__)

SESSION_COOKIE = "lrs_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


class UIError(Exception):
    """Stop a page with an HTML error page: status, a title and what to do."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


# --- application setup (once, when the first UI blueprint is registered) ---------------------


def setup(app: Flask) -> None:
    """Secret key, cookie flags, headers for /static. Idempotent."""
    if app.extensions.get("lrs_ui"):
        return
    settings = app.extensions["lrs_settings"]
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secret_key.secret_key(settings)
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.lower().startswith("https://"),
    )
    app.session_interface = CookieSessions()
    app.extensions["lrs_ui"] = {"frame_ancestors": frame_ancestors(app)}
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["signed_in"] = lambda: g.get("account")

    @app.after_request
    def _static_headers(response: Response) -> Response:
        if request.endpoint == "static":
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Content-Security-Policy"] = "default-src 'none'"
        return response


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building a signer for requests that carry no
    session cookie: statement intake never does, and the signer cost ~6% of a single-statement
    POST (bench/ingest.py)."""

    def open_session(self, app: Flask, request):
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class() if app.secret_key else None
        return super().open_session(app, request)


class FrameOriginError(ValueError):
    """A `ui_frame_ancestors` entry that is not an origin."""


def check_frame_origin(origin: str) -> str:
    """The origin, normalised; refused unless `https://host[:port]` (or http for localhost),
    so a typo cannot silently open framing to everyone."""
    found = origin.strip().rstrip("/")
    if not _ORIGIN.fullmatch(found):
        raise FrameOriginError(
            f"ui_frame_ancestors: {origin!r} is not an origin like https://lms.example.org"
        )
    return found


def frame_ancestors(app: Flask) -> tuple[str, ...]:
    """LMS origins that may frame the learner page: the `ui_frame_ancestors` setting (or the
    app config key UI_FRAME_ANCESTORS)."""
    configured: Iterable[str] = getattr(
        app.extensions["lrs_settings"], "ui_frame_ancestors", None
    ) or app.config.get("UI_FRAME_ANCESTORS", ())
    return tuple(check_frame_origin(origin) for origin in configured)


def init_blueprint(bp: Blueprint, *, framed: bool = False) -> None:
    """Wire a UI blueprint: setup on registration, CSRF check, headers, HTML error pages."""
    bp.record_once(lambda state: setup(state.app))
    bp.before_request(_check_csrf)
    bp.after_request(_framed_headers if framed else _headers)
    bp.register_error_handler(UIError, _ui_error)
    bp.register_error_handler(HTTPException, _http_error)
    bp.register_error_handler(Exception, _unexpected)


# --- headers -----------------------------------------------------------------------------------

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
)


def _common(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    response.headers["Cache-Control"] = "no-store"
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


def _headers(response: Response) -> Response:
    """Console and sign-in pages: never framed, referrer only to this site."""
    response.headers["Content-Security-Policy"] = _CSP + "frame-ancestors 'none'"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return _common(response)


def _framed_headers(response: Response) -> Response:
    """The learner page: framed only by the configured LMS origins, and never sends a
    Referer (its URL is the learner's credential)."""
    allowed = current_app.extensions["lrs_ui"]["frame_ancestors"]
    if allowed:
        response.headers["Content-Security-Policy"] = _CSP + "frame-ancestors " + " ".join(allowed)
    else:
        response.headers["Content-Security-Policy"] = _CSP + "frame-ancestors 'none'"
        response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    return _common(response)


# --- CSRF --------------------------------------------------------------------------------------


def csrf_token() -> str:
    """This session's CSRF token (created on first use)."""
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _same_origin(origin: str) -> bool:
    if origin == "null":
        return False
    parts = urlsplit(origin)
    here = urlsplit(request.host_url)
    public = urlsplit(current_app.extensions["lrs_settings"].public_base_url)
    return (parts.scheme, parts.netloc) in {(here.scheme, here.netloc),
                                            (public.scheme, public.netloc)}


def _check_csrf() -> None:
    if request.method not in UNSAFE_METHODS:
        return
    expected = session.get("csrf")
    given = request.form.get("csrf_token", "")
    origin = request.headers.get("Origin")
    if (
        not isinstance(expected, str)
        or not given
        or not hmac.compare_digest(given.encode(), expected.encode())
        or (origin is not None and not _same_origin(origin))
    ):
        log.info("refused %s %s: CSRF check failed", request.method, request.endpoint)
        raise UIError(
            400, "The form could not be accepted",
            "The form had expired or was not sent from this site. Go back, reload the page "
            "and try again.",
        )


# --- sign-in state -----------------------------------------------------------------------------


def _engine():
    return current_app.extensions["lrs_engine"]


def current_account() -> account_store.Account | None:
    """The signed-in account of this request (None when not signed in)."""
    if "account" in g:
        return g.account
    g.account = None
    token = session.get("sid")
    if isinstance(token, str) and token:
        now = datetime.now(UTC)
        with database.read(_engine()) as conn:
            found = account_store.session_account(conn, token, now)
        if found is not None:
            if session_rules.needs_touch(found.last_seen_at, now):
                with database.write(_engine()) as conn:
                    account_store.touch_session(conn, found.token_hash, now)
            g.account = found.account
    return g.account


def require_account(role: str) -> Callable[[Callable], Callable]:
    """Callers: a signed-in account with `role` or above (admin ⊇ auditor). Others are sent to
    the sign-in page (or shown 403 when signed in with a lesser role)."""
    roles.check_role(role)

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            account = current_account()
            if account is None:
                target = request.full_path if request.method == "GET" else None
                return redirect(url_for("auth.login", next=safe_next(target)))
            if not roles.allows(account.role, role):
                raise UIError(403, "Not allowed",
                              f"This page needs the {role} role; your account is {account.role}.")
            return view(*args, **kwargs)

        wrapper.access = f"signed-in {role}"
        return wrapper

    return decorate


def safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site (no open redirects), else None."""
    if not target:
        return None
    target = target.rstrip("?")
    if (
        len(target) > 500 or not target.startswith("/") or target.startswith("//")
        or "\\" in target or any(ord(c) < 32 for c in target)
    ):
        return None
    return target


# --- error pages -------------------------------------------------------------------------------


def error_page(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("error.html", title=title, message=message, status=status), status


def _ui_error(exc: UIError):
    return error_page(exc.status, exc.title, exc.message)


_TITLES = {404: "Page not found", 405: "Not allowed here", 413: "Too large"}


def _http_error(exc: HTTPException):
    status = exc.code or 500
    return error_page(status, _TITLES.get(status, exc.name or "Error"),
                      exc.description or "Something went wrong with this request.")


def _unexpected(exc: Exception):
    log.exception("unhandled error in %s", request.endpoint)  # paths can hold link tokens
    return error_page(500, "Something went wrong",
                      "An unexpected error occurred; the administrators can find it in the logs.")
