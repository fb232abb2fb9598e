"""The L&D audit console (`/console/audit/…`): statements under filters, one statement
explained, rules with hit counts, framework coverage, the what-if diff of a draft mapping with
a publish action, and a CSV export of every table.

Auditors and admins read everything here; only admins publish. The statement list pages by
keyset (`store/audit.py`); what-if reads the whole store, so its result is kept for a few
minutes per process (paging and the CSV export reuse it) until statements or the published
version change.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from lrs_connector.mapping import MappingError
from lrs_connector.store import audit as store
from lrs_connector.store import database, evidence, frameworks
from lrs_connector.store import mapping as mapping_store
from lrs_connector.store.mapping_audit import ExplainError, explain
from lrs_connector.store.tables import processing_queue, statements
from lrs_connector.web.ui import security

bp = Blueprint("audit", __name__, url_prefix="/console/audit")
security.init_blueprint(bp)
log = logging.getLogger(__name__)

PAGE_SIZE = 50
CHANGES_PER_PAGE = 100
MAX_ID = 2**63 - 1
_STATEMENT_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                           r"[0-9a-fA-F]{12}")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
WHATIF_SECONDS = 300


def _engine():
    return current_app.extensions["lrs_engine"]


def _render(template: str, http_status: int = 200, **values: Any):
    return render_template(template, account=security.current_account(), **values), http_status


def _positive(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and 0 < int(raw) <= MAX_ID else None


# --- CSV -------------------------------------------------------------------------------------


def csv_cell(value: Any) -> Any:
    """A cell safe to open in a spreadsheet: text starting with = + - @ (or a tab or carriage
    return) gets a leading apostrophe, so it is never run as a formula. Numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_response(name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """Stream rows as a CSV download named `<name>-<UTC time>.csv` (`name` is ours, never the
    caller's, so the file name is always safe)."""

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([csv_cell(v) for v in row])
            if buffer.tell() > 65_536:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = Response(generate(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response


# --- statements ------------------------------------------------------------------------------


class FilterError(ValueError):
    """A filter value that cannot be used, with a message for the form."""


def _day(raw: str, label: str) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise FilterError(f"{label} must be a date like 2026-03-31.") from None


def _iri(raw: str, label: str) -> str | None:
    raw = raw.strip()
    if not raw:
        return None
    if len(raw) > store.MAX_IRI or any(ord(c) < 32 for c in raw):
        raise FilterError(f"{label} must be one IRI of at most {store.MAX_IRI} characters.")
    return raw


def parse_filters(args) -> tuple[store.Filters, dict[str, str]]:
    """Filters from the query string and the values to show back in the form; FilterError
    names the field that cannot be used."""
    form = {name: (args.get(name) or "")[:store.MAX_IRI + 1]
            for name in ("learner", "verb", "activity", "source", "since", "until", "state")}
    learner = form["learner"].strip()
    if learner and _positive(learner) is None:
        raise FilterError("Learner must be a learner id (a positive whole number).")
    source = form["source"].strip()
    if source and _positive(source) is None:
        raise FilterError("Source must be one of the listed sources.")
    state = form["state"] or "all"
    if state not in store.STATES:
        raise FilterError(f"State must be one of: {', '.join(store.STATES)}.")
    since, until = _day(form["since"], "From"), _day(form["until"], "Until")
    if since and until and until < since:
        raise FilterError("Until must not be before From.")

    def start(day: date | None) -> datetime | None:
        return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)

    filters = store.Filters(
        learner=_positive(learner), verb=_iri(form["verb"], "Verb"),
        activity=_iri(form["activity"], "Activity"), source=_positive(source),
        since=start(since), until=start(until + timedelta(days=1)) if until else None,
        state=state,
    )
    form["state"] = state
    return filters, form


def _query(form: dict[str, str], **extra: Any) -> dict[str, Any]:
    """The filters as URL parameters (empty ones left out)."""
    out = {k: v for k, v in form.items() if v and not (k == "state" and v == "all")}
    out.update({k: v for k, v in extra.items() if v})
    return out


@bp.get("/")
@security.require_account("auditor")
def home():
    """Callers: signed-in auditors and admins. The audit console starts at the statements."""
    return redirect(url_for("audit.statement_list"))


@bp.get("/statements")
@security.require_account("auditor")
def statement_list():
    """Callers: signed-in auditors and admins. Statements newest first, 50 a page (keyset),
    under the filters of the form."""
    with database.read(_engine()) as conn:
        source_names = store.source_names(conn)
        try:
            filters, form = parse_filters(request.args)
        except FilterError as exc:
            form = {k: (request.args.get(k) or "")[:200] for k in
                    ("learner", "verb", "activity", "source", "since", "until", "state")}
            return _render("audit_statements.html", 400, rows=[], form=form, error=str(exc),
                           sources=source_names, states=store.STATES, next_cursor=None,
                           paged=False, query={})
        raw_cursor = request.args.get("before", "")
        cursor = store.Cursor.decode(raw_cursor) if raw_cursor else None
        if raw_cursor and cursor is None:
            raise security.UIError(400, "Not a page of this list",
                                   "The page link is damaged. Start again from the first page.")
        rows = store.statement_page(conn, filters, cursor, PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return _render("audit_statements.html", rows=rows, form=form, error=None,
                   sources=source_names, states=store.STATES, paged=cursor is not None,
                   next_cursor=rows[-1]["cursor"] if more else None, query=_query(form))


STATEMENT_HEADER = ("statement id", "timestamp (UTC)", "actor", "verb", "activity", "source",
                    "state", "evidence rows in force", "learners")


@bp.get("/statements.csv")
@security.require_account("auditor")
def statements_csv():
    """Callers: signed-in auditors and admins. Every statement under the filters, as CSV
    (streamed, newest first)."""
    try:
        filters, _form = parse_filters(request.args)
    except FilterError as exc:
        raise security.UIError(400, "The filters could not be used", str(exc)) from None
    engine = _engine()
    rows = ((r["id"], r["timestamp"], r["actor"], r["verb"], r["activity"], r["source"],
             r["state"], r["evidence"], " ".join(map(str, r["learners"])))
            for r in store.all_statements(engine, filters))
    return csv_response("statements", STATEMENT_HEADER, rows)


@bp.get("/statements/<statement_id>")
@security.require_account("auditor")
def statement(statement_id: str):
    """Callers: signed-in auditors and admins. One statement: its JSON, every rule's verdict
    (matched, or the first condition that failed), its evidence and the readiness it moved."""
    if not _STATEMENT_ID.fullmatch(statement_id):
        raise security.UIError(404, "No such statement",
                               "A statement id looks like 6f1c…-…: a UUID.")
    version = _positive(request.args.get("version"))
    engine = _engine()
    try:
        found = explain(engine, statement_id.lower(), version)
    except ExplainError as exc:
        raise security.UIError(exc.status, "Cannot explain this statement", str(exc)) from None
    with database.read(engine) as conn:
        stored = conn.execute(
            sa.select(statements.c.body, statements.c.timestamp, statements.c.received_at)
            .where(statements.c.id == statement_id.lower())
        ).first()
        moved = store.readiness_around(conn, statement_id.lower())
        versions = mapping_store.versions(conn)
    body = orjson.dumps(orjson.loads(stored.body), option=orjson.OPT_INDENT_2).decode()
    moved_rows = [{"learner": m["learner"], **r} for m in moved for r in m["roles"] if r["after"]]
    return _render("audit_statement.html", found=found, body=body, moved=moved_rows,
                   versions=versions, timestamp=stored.timestamp.isoformat(),
                   received_at=stored.received_at.isoformat())


# --- rules and coverage ----------------------------------------------------------------------


def _published(conn) -> mapping_store.Active:
    active = mapping_store.active(conn, datetime.now(UTC))
    if active is None:
        raise security.UIError(409, "No mapping is published",
                               "Publish a mapping version first (What-if, or "
                               "`lrs-connector mapping publish`).")
    return active


def _rules_table() -> tuple[int, list[dict[str, Any]]]:
    with database.write(_engine()) as conn:  # may publish the bundled rules on first use
        active = _published(conn)
    with database.read(_engine()) as conn:
        hits = store.rule_hits(conn, active.version)
        samples = store.rule_samples(conn, active.version, [r.id for r in active.mapper.rules])
    rows = [{"rule": r.id, "description": r.description,
             "verbs": sorted(r.verbs) if r.verbs else [],
             "targets": [t.iri for t in r.targets], "statements": hits.get(r.id, 0),
             "samples": samples.get(r.id, [])} for r in active.mapper.rules]
    return active.version, rows


@bp.get("/rules")
@security.require_account("auditor")
def rules():
    """Callers: signed-in auditors and admins. Each rule of the published mapping with the
    statements it gave evidence for and a few of them."""
    version, rows = _rules_table()
    return _render("audit_rules.html", version=version, rows=rows)


@bp.get("/rules.csv")
@security.require_account("auditor")
def rules_csv():
    """Callers: signed-in auditors and admins. The rules table as CSV."""
    version, rows = _rules_table()
    return csv_response("rules", ("mapping version", "rule", "description", "verbs", "targets",
                                  "statements", "sample statements"),
                        ((version, r["rule"], r["description"], " ".join(r["verbs"]),
                          " ".join(r["targets"]), r["statements"], " ".join(r["samples"]))
                         for r in rows))


def _competencies() -> tuple[int, list[dict[str, Any]]]:
    with database.write(_engine()) as conn:
        active = _published(conn)
    fed = active.mapper.targets()
    with database.read(_engine()) as conn:
        framework = frameworks.in_force(conn)
        targets = sorted([*framework.competencies, *framework.dimensions])
        with_evidence = store.targets_with_evidence(conn, targets)
    rows = []
    for iri, item in [*framework.competencies.items(), *framework.dimensions.items()]:
        kind = "dimension" if iri in framework.dimensions else "competency"
        rows.append({"target": iri, "name": getattr(item, "name", iri), "kind": kind,
                     "code": getattr(item, "code", ""), "has_rule": iri in fed,
                     "has_evidence": iri in with_evidence})
    rows.sort(key=lambda r: (r["has_rule"], r["has_evidence"], r["kind"], r["name"]))
    return active.version, rows


def _limit() -> int:
    return min(_positive(request.args.get("limit")) or 50, 1000)


@bp.get("/coverage")
@security.require_account("auditor")
def coverage():
    """Callers: signed-in auditors and admins. Competencies and dimensions no rule feeds or
    with no evidence, and the activities of statements no rule maps."""
    version, rows = _competencies()
    limit = _limit()
    with database.read(_engine()) as conn:
        unmapped = store.unmapped_activities(conn, limit)
    return _render("audit_coverage.html", version=version, rows=rows, unmapped=unmapped,
                   limit=limit, gaps=[r for r in rows if not (r["has_rule"] and r["has_evidence"])])


@bp.get("/coverage.csv")
@security.require_account("auditor")
def coverage_csv():
    """Callers: signed-in auditors and admins. Every competency and dimension with whether
    a rule feeds it and whether it has evidence, as CSV."""
    version, rows = _competencies()
    return csv_response("coverage", ("mapping version", "target", "code", "name", "kind",
                                     "fed by a rule", "has evidence"),
                        ((version, r["target"], r["code"], r["name"], r["kind"], r["has_rule"],
                          r["has_evidence"]) for r in rows))


@bp.get("/unmapped.csv")
@security.require_account("auditor")
def unmapped_csv():
    """Callers: signed-in auditors and admins. Every activity of unmapped statements, with
    counts, as CSV."""
    with database.read(_engine()) as conn:
        rows = store.unmapped_activities(conn, None)
    return csv_response("unmapped-activities", ("activity", "unmapped statements"),
                        ((r["activity"], r["statements"]) for r in rows))


# --- what-if and publish ---------------------------------------------------------------------

_whatif_cache: dict[tuple, tuple[float, evidence.WhatIf]] = {}
_whatif_lock = threading.Lock()


def _store_state(conn) -> tuple:
    """What invalidates a what-if result: new statements, pending processing, the published
    version."""
    return (conn.execute(sa.select(sa.func.max(statements.c.seq))).scalar(),
            conn.execute(sa.select(sa.func.count()).select_from(processing_queue)).scalar(),
            mapping_store.published_version(conn))


def _version_or_error(conn, version: int) -> str:
    status = store.version_status(conn, version)
    if status is None:
        raise security.UIError(404, "No such mapping version",
                               f"There is no mapping version {version}.")
    return status


def whatif_report(version: int) -> evidence.WhatIf:
    """The what-if of `version` against the evidence in force (cached while nothing changes;
    computing it reads every stored statement)."""
    engine = _engine()
    with database.read(engine) as conn:
        _version_or_error(conn, version)
        key = (version, *_store_state(conn))
        try:
            mapper = mapping_store.mapper(conn, version)
        except MappingError as exc:
            raise security.UIError(
                409, "This version no longer compiles",
                f"Mapping version {version} has {len(exc.problems)} problem(s) against today's "
                f"profiles and framework; check it with `lrs-connector mapping check`.",
            ) from None
    now = time.monotonic()
    with _whatif_lock:
        for old in [k for k, (at, _r) in _whatif_cache.items() if now - at > WHATIF_SECONDS]:
            del _whatif_cache[old]
        cached = _whatif_cache.get(key)
    if cached is not None:
        return cached[1]
    report = evidence.whatif(engine, mapper, version)
    with _whatif_lock:
        if len(_whatif_cache) >= 4:
            _whatif_cache.pop(next(iter(_whatif_cache)))
        _whatif_cache[key] = (now, report)
    return report


@bp.get("/whatif")
@security.require_account("auditor")
def whatif():
    """Callers: signed-in auditors and admins (the publish button: admins). Pick a draft and
    see the evidence it would add, remove or change per competency and learner."""
    with database.read(_engine()) as conn:
        drafts = store.drafts(conn)
        published = mapping_store.published_version(conn)
    raw = request.args.get("version", "")
    version = _positive(raw)
    if raw and version is None:
        raise security.UIError(400, "Not a mapping version", "Pick a version from the list.")
    page = min(_positive(request.args.get("page")) or 1, 100_000)
    result = None
    if version is not None:
        with database.read(_engine()) as conn:
            status = _version_or_error(conn, version)
        result = whatif_report(version).as_dict(CHANGES_PER_PAGE, (page - 1) * CHANGES_PER_PAGE)
        result["status"] = status
        result["rules"] = [r for r in result["rules"] if r["rows_now"] != r["rows_draft"]] + [
            r for r in result["rules"] if r["rows_now"] == r["rows_draft"]]
    return _render("audit_whatif.html", drafts=drafts, published=published, version=version,
                   result=result, page=page, per_page=CHANGES_PER_PAGE,
                   names=_target_names())


def _target_names() -> dict[str, str]:
    with database.read(_engine()) as conn:
        framework = frameworks.in_force(conn)
    return {iri: item.name for iri, item in
            [*framework.competencies.items(), *framework.dimensions.items()]}


@bp.get("/whatif.csv")
@security.require_account("auditor")
def whatif_csv():
    """Callers: signed-in auditors and admins. Every learner and competency change of a draft
    as CSV."""
    version = _positive(request.args.get("version"))
    if version is None:
        raise security.UIError(400, "Not a mapping version", "Pick a version from the list.")
    report = whatif_report(version)
    changes = report.as_dict(limit=len(report.cells) + 1)["changes"]
    names = _target_names()
    return csv_response(
        f"whatif-v{version}",
        ("mapping version", "learner", "target", "name", "rows added", "rows removed",
         "rows changed", "weight now", "weight with the draft"),
        ((version, c["learner"], c["target"], names.get(c["target"], ""), c["added"],
          c["removed"], c["changed"], c["weight_now"], c["weight_draft"]) for c in changes),
    )


@bp.get("/whatif/<int:version>/publish")
@security.require_account("admin")
def confirm_publish(version: int):
    """Callers: signed-in admins. Asks before publishing a draft."""
    with database.read(_engine()) as conn:
        status = _version_or_error(conn, version if version <= MAX_ID else 0)
        published = mapping_store.published_version(conn)
    return _render("audit_publish.html", version=version, status=status, published=published)


@bp.post("/whatif/<int:version>/publish")
@security.require_account("admin")
def publish(version: int):
    """Callers: signed-in admins (form with CSRF token and the confirmation). Put a draft in
    force, retiring the published version; optionally replay the stored statements."""
    if request.form.get("confirm") != "yes":
        raise security.UIError(400, "Not confirmed",
                               "Tick the confirmation box to publish this version.")
    engine = _engine()
    with database.write(engine) as conn:
        status = _version_or_error(conn, version if version <= MAX_ID else 0)
        if status != mapping_store.DRAFT:
            raise security.UIError(409, "Only drafts are published here",
                                   f"Mapping version {version} is {status}.")
        try:
            mapper = mapping_store.mapper(conn, version)
        except MappingError as exc:
            raise security.UIError(409, "This version no longer compiles",
                                   f"Mapping version {version} has {len(exc.problems)} "
                                   "problem(s); it was not published.") from None
        try:
            previous = mapping_store.publish_version(conn, version, datetime.now(UTC))
        except mapping_store.TargetsMissing as exc:
            raise security.UIError(409, "Not for the framework in force", str(exc)) from None
    account = security.current_account()
    log.info("mapping version %s published by %s (retired %s)", version, account.username,
             previous)
    message = f"Mapping version {version} is published" + (
        f"; version {previous} is retired." if previous else ".")
    if request.form.get("replay") == "yes":
        result = evidence.replay(engine, mapper, version)
        message += (f" Replayed {result['statements']:,} stored statements: "
                    f"{result['evidence_rows']:,} evidence rows.")
    else:
        message += (" Stored statements keep their evidence until a replay "
                    "(lrs-connector mapping replay).")
    flash(message, "success")
    return redirect(url_for("audit.rules"))
