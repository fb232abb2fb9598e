"""The admin console (`/console/admin/…`): sources, pull sources and their errors, LMS targets
and their checks, the outbox and its dead letters, learners a target could not match, and
learner merges.

Auditors may read the lists; every change needs the admin role and goes through a form POST
with the session's CSRF token (`security.py`). Bad input answers with a page saying what to
fix, never a 500; a change that worked redirects with a flash message. A new source secret is
the exception: it is shown in the answer to the POST that made it and nowhere else (not in a
URL, a cookie, a log or a later page), so that page is not a redirect.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from lrs_connector.learners import parse_alias
from lrs_connector.store import console_admin, database, outbox
from lrs_connector.store import learners as learner_store
from lrs_connector.store import pull as pull_store
from lrs_connector.store.holders import SOURCES, HolderError
from lrs_connector.web.ui import security

bp = Blueprint("admin_console", __name__, url_prefix="/console/admin")
security.init_blueprint(bp)
log = logging.getLogger(__name__)

PAGE_SIZE = 50
MAX_ID = 2**63 - 1
MAX_USER_ID = 255
MAX_LEARNER_TEXT = 600


def _engine():
    return current_app.extensions["lrs_engine"]


def _targets() -> dict[str, Any]:
    return current_app.extensions.get("lrs_targets", {})


def _who() -> str:
    account = security.current_account()
    return account.username if account else "?"


def _render(template: str, http_status: int = 200, **context):
    return render_template(template, account=security.current_account(), **context), http_status


def _bad(message: str, title: str = "The form could not be used") -> security.UIError:
    return security.UIError(400, title, message)


def _form_id(name: str) -> int:
    """A positive id from a form field (400 with a message otherwise)."""
    raw = request.form.get(name, "").strip()
    if not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
        raise _bad(f"The field {name} must be a positive whole number, not {raw[:40]!r}.")
    return int(raw)


def _clean_text(value: str, label: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"Enter the {label}.")
    if len(value) > limit:
        raise ValueError(f"The {label} is too long: at most {limit} characters.")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"The {label} must not contain control characters (tabs, line breaks).")
    return value


# --- overview ----------------------------------------------------------------------------------


@bp.get("/")
@security.require_account("auditor")
def home():
    """Callers: signed-in auditors and admins. The admin console's sections with counts."""
    with database.read(_engine()) as conn:
        counts = outbox.counts(conn)
        unresolved = len(outbox.unresolved(conn))
        sources = SOURCES.list(conn)
    dead = sum(c.get("dead", 0) for c in counts.values())
    return _render("admin_home.html", sources=sources, targets=_targets(), dead=dead,
                   unresolved=unresolved)


# --- sources -----------------------------------------------------------------------------------


def _sources_page(status: int = 200, **context):
    raw = request.args.get("after", "")[:100]
    with database.read(_engine()) as conn:
        rows = SOURCES.page(conn, after=raw, limit=PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return _render("admin_sources.html", status, rows=rows, after=raw,
                   next_after=rows[-1].name if more else None, **context)


@bp.get("/sources")
@security.require_account("auditor")
def sources():
    """Callers: signed-in auditors and admins. Sources by name (never their secrets)."""
    return _sources_page()


@bp.post("/sources")
@security.require_account("admin")
def create_source():
    """Callers: signed-in admins. Create a source; its secret is shown on this answer only."""
    raw_name = request.form.get("name", "")
    description = request.form.get("description", "").strip()
    try:
        name = _clean_text(raw_name, "source name", 100)
        if len(description) > 1000:
            raise ValueError("The description is too long: at most 1,000 characters.")
        with database.write(_engine()) as conn:
            source, new = SOURCES.add(conn, name, description=description)
    except (ValueError, HolderError) as exc:
        status = 409 if "already exists" in str(exc) else 400
        message = str(exc)
        if status == 409:
            message = f"A source named {raw_name.strip()!r} already exists; choose another name."
        return _sources_page(status, error=message, form={"name": raw_name[:100],
                                                          "description": description[:1000]})
    log.info("admin %r created source %r (key %s)", _who(), source.name, source.key)
    return _render("admin_source_secret.html", source=source, credential=new, created=True)


def _source_named() -> str:
    name = request.form.get("name", "").strip()
    if not name or len(name) > 100:
        raise _bad("Say which source: its name (1 to 100 characters).")
    return name


@bp.get("/sources/rotate")
@security.require_account("admin")
def confirm_rotate():
    """Callers: signed-in admins. Ask before giving a source a new secret."""
    name = request.args.get("name", "").strip()[:100]
    with database.read(_engine()) as conn:
        try:
            source = SOURCES.get(conn, name)
        except HolderError:
            raise security.UIError(404, "No such source",
                                   f"There is no source named {name!r}.") from None
    return _render("admin_source_rotate.html", source=source)


@bp.post("/sources/rotate")
@security.require_account("admin")
def rotate_source():
    """Callers: signed-in admins. A new secret for a source, shown on this answer only; the
    old one stops working at once."""
    name = _source_named()
    try:
        with database.write(_engine()) as conn:
            source, new = SOURCES.rotate(conn, name)
    except HolderError:
        raise security.UIError(404, "No such source",
                               f"There is no source named {name!r}.") from None
    log.info("admin %r rotated the secret of source %r", _who(), source.name)
    return _render("admin_source_secret.html", source=source, credential=new, created=False)


@bp.post("/sources/enabled")
@security.require_account("admin")
def toggle_source():
    """Callers: signed-in admins. Enable or disable a source (`enabled` = yes or no)."""
    name = _source_named()
    wanted = request.form.get("enabled", "")
    if wanted not in ("yes", "no"):
        raise _bad("Say whether to enable or disable the source.")
    try:
        with database.write(_engine()) as conn:
            source = SOURCES.set_enabled(conn, name, wanted == "yes")
    except HolderError:
        raise security.UIError(404, "No such source",
                               f"There is no source named {name!r}.") from None
    state = "enabled" if source.enabled else "disabled"
    log.info("admin %r %s source %r", _who(), state, source.name)
    flash(f"Source {source.name} is {state}."
          + ("" if source.enabled else " Its statements are refused until it is enabled again."),
          "success")
    return redirect(url_for(".sources"))


# --- pull sources ------------------------------------------------------------------------------

# Failing pull sources listed above the table, from every page.
FAILING_SHOWN = 20


@bp.get("/pull-sources")
@security.require_account("auditor")
def pull_sources():
    """Callers: signed-in auditors and admins. LRSs the connector polls, by name (keyset pages
    of 50): cursor, last success, and for a failing one its error, since when, how many
    attempts in a row and the next attempt; above them the failing sources of every page
    (the first FAILING_SHOWN). Never a credential (`PullSource.status()`)."""
    raw = request.args.get("after", "")[:100]
    with database.read(_engine()) as conn:
        rows = pull_store.page(conn, after=raw, limit=PAGE_SIZE + 1)
        failing = pull_store.page(conn, failing=True, limit=FAILING_SHOWN)
        failing_count = (pull_store.count_failing(conn) if len(failing) == FAILING_SHOWN
                         else len(failing))
    more = len(rows) > PAGE_SIZE
    rows = [p.status() for p in rows[:PAGE_SIZE]]
    return _render("admin_pull_sources.html", rows=rows, after=raw,
                   next_after=rows[-1]["name"] if more else None,
                   failing=[p.status() for p in failing], failing_count=failing_count)


# --- LMS targets -------------------------------------------------------------------------------


@bp.get("/targets")
@security.require_account("auditor")
def targets():
    """Callers: signed-in auditors and admins. Each LMS target: kind, deliveries by status,
    the last delivery and the last check."""
    with database.read(_engine()) as conn:
        counts = outbox.counts(conn)
        checks = console_admin.last_checks(conn)
        rows = [
            {"name": name, "kind": target.kind, "counts": counts.get(name, {}),
             "last": outbox.last_delivery(conn, name), "check": checks.get(name)}
            for name, target in _targets().items()
        ]
    return _render("admin_targets.html", rows=rows, statuses=outbox.STATUSES)


def _configured_target(field: str = "target") -> str:
    name = request.form.get(field, "").strip()
    if name not in _targets():
        raise security.UIError(404, "No such LMS target",
                               f"There is no configured LMS target named {name[:64]!r}.")
    return name


@bp.post("/targets/check")
@security.require_account("admin")
def check_target():
    """Callers: signed-in admins. Run a target's check (this calls the LMS) and remember the
    result in the database, so every web process shows it."""
    name = _configured_target()
    try:
        findings = [f.as_dict() for f in _targets()[name].check()]
    except Exception as exc:  # a target's check must not take the page down
        log.exception("check of LMS target %r failed", name)
        findings = [{"check": "check", "ok": False,
                     "message": f"the check stopped with an error ({type(exc).__name__})",
                     "fix": "see the connector's log for the details"}]
    with database.write(_engine()) as conn:
        result = console_admin.save_check(conn, name, findings, _who(), datetime.now(UTC))
    problems = sum(not f["ok"] for f in result.findings)
    log.info("admin %r checked LMS target %r: %s", _who(), name,
             "fine" if result.ok else f"{problems} problem(s)")
    if result.ok:
        flash(f"Check of {name}: everything is fine.", "success")
    else:
        flash(f"Check of {name}: {problems} problem(s) to fix, listed below.", "error")
    return redirect(url_for(".targets", _anchor=f"target-{name}"))


# --- outbox ------------------------------------------------------------------------------------


def _status_filter(raw: str) -> str | None:
    if raw in ("", "all"):
        return None
    if raw not in outbox.STATUSES:
        raise _bad(f"{raw[:40]!r} is not a delivery status; choose one of "
                   + ", ".join(outbox.STATUSES) + ".", "Unknown status")
    return raw


def _target_filter(raw: str) -> str | None:
    raw = raw.strip()
    if not raw:
        return None
    if len(raw) > 64 or not all(c.isalnum() or c in "-_" for c in raw):
        raise _bad(f"{raw[:64]!r} is not a target name (letters, digits, - and _).",
                   "Unknown target")
    return raw


@bp.get("/outbox")
@security.require_account("auditor")
def deliveries():
    """Callers: signed-in auditors and admins. Deliveries newest first, by status and target,
    50 a page (keyset on the id); dead letters with Retry and Discard for admins."""
    status = _status_filter(request.args.get("status", ""))
    target = _target_filter(request.args.get("target", ""))
    raw = request.args.get("before", "")
    before = int(raw) if raw.isdigit() and 0 < int(raw) <= MAX_ID else None
    with database.read(_engine()) as conn:
        rows = outbox.listing(conn, status=status, target=target, after=before,
                              limit=PAGE_SIZE + 1)
        counts = outbox.counts(conn)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    names = sorted(set(_targets()) | set(counts))
    return _render("admin_outbox.html", rows=rows, status=status or "", target=target or "",
                   before=before, next_before=rows[-1]["id"] if more else None,
                   statuses=outbox.STATUSES, retryable=outbox.RETRYABLE, names=names,
                   dead={n: c.get("dead", 0) for n, c in counts.items() if c.get("dead")})


def _back_to_outbox():
    """Back to the outbox with the filters the form came from (checked again)."""
    args = {}
    try:
        if status := _status_filter(request.form.get("status_filter", "")):
            args["status"] = status
        if target := _target_filter(request.form.get("target_filter", "")):
            args["target"] = target
    except security.UIError:
        args = {}
    return redirect(url_for(".deliveries", **args))


@bp.post("/outbox/retry")
@security.require_account("admin")
def retry():
    """Callers: signed-in admins. Send one delivery (`id`) again from the first attempt, or
    every dead one of a target (`dead_of` = the target)."""
    now = datetime.now(UTC)
    dead_of = request.form.get("dead_of", "").strip()
    if dead_of:
        target = _target_filter(dead_of)
        with database.write(_engine()) as conn:
            count = outbox.retry(conn, now, target=target, status="dead")
        log.info("admin %r retried %d dead deliveries of %r", _who(), count, target)
        flash(f"{count} dead deliveries for {target} queued again." if count
              else f"There were no dead deliveries for {target} to retry.",
              "success" if count else "error")
        return _back_to_outbox()
    delivery_id = _form_id("id")
    with database.write(_engine()) as conn:
        found = outbox.get(conn, delivery_id)
        if found is None:
            raise security.UIError(404, "No such delivery",
                                   f"There is no delivery {delivery_id}.")
        count = outbox.retry(conn, now, ids=[delivery_id])
    if count:
        log.info("admin %r retried delivery %d", _who(), delivery_id)
        flash(f"Delivery {delivery_id} is queued again.", "success")
    else:
        flash(f"Delivery {delivery_id} is {found['status']}: only "
              + ", ".join(outbox.RETRYABLE) + " deliveries can be retried.", "error")
    return _back_to_outbox()


@bp.post("/outbox/discard")
@security.require_account("admin")
def discard():
    """Callers: signed-in admins. Stop trying to send one delivery (kept for the record)."""
    delivery_id = _form_id("id")
    with database.write(_engine()) as conn:
        found = outbox.get(conn, delivery_id)
        if found is None:
            raise security.UIError(404, "No such delivery",
                                   f"There is no delivery {delivery_id}.")
        count = outbox.discard(conn, [delivery_id], datetime.now(UTC))
    if count:
        log.info("admin %r discarded delivery %d", _who(), delivery_id)
        flash(f"Delivery {delivery_id} is discarded; Retry sends it again.", "success")
    else:
        flash(f"Delivery {delivery_id} is being delivered right now and cannot be discarded; "
              "try again in a minute.", "error")
    return _back_to_outbox()


# --- unresolved learners -----------------------------------------------------------------------


def _unresolved_page(status: int = 200, **context):
    target = _target_filter(request.values.get("target_filter", "")
                            or request.args.get("target", ""))
    with database.read(_engine()) as conn:
        rows = outbox.unresolved(conn, target)
    return _render("admin_unresolved.html", status, rows=rows, target=target or "",
                   names=sorted(_targets()), **context)


@bp.get("/unresolved")
@security.require_account("auditor")
def unresolved():
    """Callers: signed-in auditors and admins. Learners a target could not match to one of its
    users, with their identifiers; admins link them to a user id."""
    return _unresolved_page()


@bp.post("/unresolved/link")
@security.require_account("admin")
def link():
    """Callers: signed-in admins. Say who a learner is at a target (its user id there); their
    waiting deliveries go out."""
    target = request.form.get("target", "").strip()
    raw_learner = request.form.get("learner_id", "").strip()
    raw_user = request.form.get("user_id", "")
    form = {"target": target[:64], "learner_id": raw_learner[:20], "user_id": raw_user[:300]}

    def refuse(message: str, status: int = 400):
        return _unresolved_page(status, error=message, form=form)

    if target not in _targets():
        return refuse(f"There is no configured LMS target named {target[:64]!r}.", 404)
    if not raw_learner.isdigit() or not 0 < int(raw_learner) <= MAX_ID:
        return refuse("The learner must be given by its id (a positive whole number).")
    learner_id = int(raw_learner)
    try:
        user_id = _clean_text(raw_user, "LMS user id", MAX_USER_ID)
    except ValueError as exc:
        return refuse(str(exc))
    with database.write(_engine()) as conn:
        info = learner_store.get(conn, learner_id)
        if info is None:
            return refuse(f"There is no learner {learner_id}.", 404)
        if info.merged_into is not None:
            return refuse(f"Learner {learner_id} was merged into learner {info.merged_into}; "
                          f"link learner {info.merged_into} instead.", 409)
        other = outbox.user_owner(conn, target, user_id, learner_id)
        if other is not None:
            return refuse(f"User {user_id} at {target} is already linked to learner {other}. "
                          "If both learners are one person, merge them instead.", 409)
        count = outbox.link_user(conn, target, learner_id, user_id, datetime.now(UTC))
    log.info("admin %r linked learner %d to user %r at %r", _who(), learner_id, user_id, target)
    flash(f"Learner {learner_id} is linked to user {user_id} at {target}; "
          f"{count} waiting deliveries queued.", "success")
    return redirect(url_for(".unresolved"))


# --- learner merge -----------------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def _learner_from(conn, text: str, label: str) -> dict[str, Any]:
    """A learner named by id or alias (`mbox:ada@example.org`, `mailto:…`, `account:…|…`)."""
    text = text.strip()
    if not text:
        raise _Refused(f"Enter the {label}: an id or an alias such as mbox:ada@example.org.", 400)
    if len(text) > MAX_LEARNER_TEXT:
        raise _Refused(f"The {label} is too long (at most {MAX_LEARNER_TEXT} characters).", 400)
    if text.isdigit():
        learner_id = int(text)
        if learner_id > MAX_ID:
            raise _Refused(f"There is no learner {text[:30]}.", 404)
    else:
        try:
            alias = parse_alias(text)
        except ValueError as exc:
            raise _Refused(f"The {label}: {exc}", 400) from None
        found = learner_store.by_alias(conn, alias)
        if found is None:
            raise _Refused(f"No learner has the alias {alias}.", 404)
        learner_id = found
    summary = console_admin.learner_summary(conn, learner_id)
    if summary is None:
        raise _Refused(f"There is no learner {learner_id}.", 404)
    if summary["merged_into"] is not None:
        raise _Refused(f"Learner {learner_id} was already merged into learner "
                       f"{summary['merged_into']}.", 409)
    return summary


@bp.get("/merge")
@security.require_account("admin")
def merge():
    """Callers: signed-in admins. Pick two learners (id or alias) and preview what a merge
    moves: the second one's aliases and evidence go to the first."""
    keep_text = request.args.get("keep", "")[:MAX_LEARNER_TEXT + 1]
    away_text = request.args.get("away", "")[:MAX_LEARNER_TEXT + 1]
    form = {"keep": keep_text, "away": away_text}
    if not keep_text.strip() and not away_text.strip():
        merged = request.args.get("merged", "")
        return _render("admin_merge.html", form=form,
                       merged=int(merged) if merged.isdigit() and int(merged) <= MAX_ID else None)
    try:
        with database.read(_engine()) as conn:
            keep = _learner_from(conn, keep_text, "learner to keep")
            away = _learner_from(conn, away_text, "learner to merge into it")
        if keep["id"] == away["id"]:
            raise _Refused(f"Both name learner {keep['id']}; a learner cannot be merged into "
                           "itself.", 400)
    except _Refused as exc:
        return _render("admin_merge.html", exc.status, form=form, error=exc.message)
    return _render("admin_merge.html", form=form, keep=keep, away=away)


@bp.post("/merge")
@security.require_account("admin")
def merge_post():
    """Callers: signed-in admins. Merge the previewed learners: `away`'s aliases and evidence
    move to `keep`, readiness and badges are computed again."""
    keep, away = _form_id("keep"), _form_id("away")
    try:
        with database.write(_engine()) as conn:
            moved = learner_store.merge(conn, keep, away, datetime.now(UTC))
    except learner_store.LearnerError as exc:
        status = 404 if str(exc).startswith("no learner") else 409
        return _render("admin_merge.html", status, form={"keep": str(keep), "away": str(away)},
                       error=f"The learners could not be merged: {exc}.")
    log.info("admin %r merged learner %d into %d (%s)", _who(), away, keep, moved)
    flash(f"Learner {away} is merged into learner {keep}: {moved['aliases']} aliases and "
          f"{moved['evidence']} evidence rows moved.", "success")
    return redirect(url_for(".merge", merged=keep))
