"""Sign-in and sign-out for the web consoles (`GET/POST /login`, `POST /logout`).

A sign-in is refused without checking the password while the account or the client address
is locked out (`accounts/throttle.py`); every failure counts against both. An unknown username
costs the same hashing time as a wrong password, and the answer is the same for both.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from lrs_connector.accounts import passwords, roles, throttle
from lrs_connector.store import accounts as store
from lrs_connector.store import database
from lrs_connector.web.access import public
from lrs_connector.web.ui import security

bp = Blueprint("auth", __name__)
security.init_blueprint(bp)
log = logging.getLogger(__name__)

WRONG = "The username or password is not right."


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


@bp.get("/login")
@public
def login():
    """Callers: anyone. The sign-in form."""
    if security.current_account() is not None:
        return redirect(security.safe_next(request.args.get("next")) or url_for("console.home"))
    return render_template("login.html", next=security.safe_next(request.args.get("next")),
                           signed_out="signed_out" in request.args)


@bp.post("/login")
@public
def login_post():
    """Callers: anyone (with the form's CSRF token). Check the password, open a session."""
    engine = current_app.extensions["lrs_engine"]
    raw_name = request.form.get("username", "")[:200]
    password = request.form.get("password", "")
    next_page = security.safe_next(request.form.get("next"))
    username = roles.normalise_username(raw_name)[:100]
    address = (request.remote_addr or "unknown")[:100]
    keys = {f"account:{username}": throttle.ACCOUNT_POLICY,
            f"address:{address}": throttle.ADDRESS_POLICY}
    now = datetime.now(UTC)

    def refuse(message: str, status: int):
        return render_template("login.html", next=next_page, username=raw_name[:100],
                               error=message), status

    if not username or not password:
        return refuse("Enter your username and password.", 400)
    with database.read(engine) as conn:
        counters = store.throttle_counters(conn, list(keys))
        found = store.password_hash(conn, username)
    wait = max(throttle.wait_seconds(c, now) for c in [*counters.values(), None])
    if wait > 0:
        log.info("sign-in refused while locked out: account %r from %s", username, address)
        return refuse(f"Too many failed sign-ins. Try again in {_minutes(wait)}.", 429)

    stored_hash = found[1] if found else passwords.decoy_hash()
    matches = passwords.verify_password(stored_hash, password)
    account = found[0] if found else None
    if not (matches and account is not None and account.enabled):
        with database.write(engine) as conn:
            after = store.record_failure(conn, keys, datetime.now(UTC))
        log.info("sign-in failed: account %r from %s", username, address)
        wait = max(throttle.wait_seconds(c, datetime.now(UTC)) for c in after.values())
        if wait > 0:
            return refuse(f"{WRONG} Too many failed sign-ins: try again in {_minutes(wait)}.",
                          429)
        return refuse(WRONG, 401)

    rehashed = passwords.hash_password(password) if passwords.needs_rehash(stored_hash) else None
    with database.write(engine) as conn:
        store.clear_throttle(conn, f"account:{username}")
        token = store.open_session(conn, account.id, now)
        store.signed_in(conn, account.id, now, rehashed)
    session.clear()  # a new session and CSRF token: nothing from before sign-in carries over
    session["sid"] = token
    session["csrf"] = secrets.token_urlsafe(32)
    log.info("signed in: account %r (%s) from %s", account.username, account.role, address)
    return redirect(next_page or url_for("console.home"))


@bp.post("/logout")
@public
def logout():
    """Callers: anyone (with the form's CSRF token). End this session everywhere."""
    token = session.get("sid")
    if isinstance(token, str) and token:
        with database.write(current_app.extensions["lrs_engine"]) as conn:
            store.close_session(conn, token)
    session.clear()
    return redirect(url_for("auth.login", signed_out=1))
