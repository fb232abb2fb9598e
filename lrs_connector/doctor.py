"""`lrs-connector doctor`: checks an installation and says what to fix.

Each check returns a Finding; nothing here changes the installation (LMS targets are asked
read-only questions, or a signed `ping` for a webhook).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lrs_connector.settings import Settings
from lrs_connector.store import database, quarantine, schema
from lrs_connector.store.holders import SOURCES
from lrs_connector.store.tables import processing_queue


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    message: str
    fix: str = ""
    severity: str = "error"  # "error" fails doctor; "warning" does not


def examine(settings: Settings, engine: Engine) -> list[Finding]:
    """Run every check in order; later checks are skipped when the database is unreachable."""
    findings = [_public_url(settings)]
    if settings.is_sqlite:
        findings.append(_data_dir(settings))
    try:
        with database.read(engine) as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        findings.append(
            Finding(
                "database",
                False,
                f"cannot reach the database: {type(exc).__name__}",
                "check database_url (LRS_CONNECTOR_DATABASE_URL) and that the server runs",
            )
        )
        return findings
    findings.append(Finding("database", True, f"reachable ({engine.dialect.name})"))
    missing = schema.head_revisions() - schema.current_revisions(engine)
    findings.append(
        Finding("migrations", True, "schema is current")
        if not missing
        else Finding(
            "migrations",
            False,
            f"{len(missing)} migration branch(es) not applied",
            "run `lrs-connector db upgrade`",
        )
    )
    if missing:
        return findings
    with database.read(engine) as conn:
        enabled = [s for s in SOURCES.list(conn) if s.enabled]
        depth, oldest = conn.execute(
            sa.select(sa.func.count(), sa.func.min(processing_queue.c.enqueued_at))
        ).one()
        held = quarantine.count_held(conn)
    findings.append(
        Finding("sources", True, f"{len(enabled)} enabled source(s)")
        if enabled
        else Finding(
            "sources",
            False,
            "no enabled source: nothing can send statements",
            "create one: `lrs-connector sources add NAME`",
            "warning",
        )
    )
    lag = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
    findings.append(
        Finding("processing", True, f"{depth} queued, oldest {lag:.0f} s")
        if lag <= settings.ready_max_processing_lag_seconds
        else Finding(
            "processing",
            False,
            f"{depth} queued, the oldest for {lag:.0f} s",
            "start a worker (`lrs-connector process`) or enable embedded_processor in serve",
        )
    )
    findings.append(
        Finding("quarantine", True, "no statement held")
        if not held
        else Finding(
            "quarantine",
            False,
            f"{held} forwarded statement(s) held as invalid",
            "review them: `lrs-connector quarantine list`",
            "warning",
        )
    )
    findings.append(_framework(settings, engine))
    findings.extend(_lms_targets(settings, engine))
    return findings


def _framework(settings: Settings, engine: Engine) -> Finding:
    """The framework in force: the configured IRI is there, and suits the published rules."""
    from lrs_connector.store import frameworks

    frameworks.configure(settings.framework_iri)
    iri = frameworks.in_force_iri()
    with database.read(engine) as conn:
        framework = frameworks.in_force(conn)
        if framework.iri != iri:
            return Finding(
                "framework", False,
                f"framework_iri {iri} is not imported: the bundled framework is in force",
                "import it (`lrs-connector frameworks import FILE`) or correct framework_iri",
            )
        try:
            frameworks.check_usable(conn, framework)
        except frameworks.NotUsable as exc:
            return Finding("framework", False, str(exc),
                           "publish mapping rules that suit it, or correct framework_iri")
    return Finding("framework", True, f"in force: {framework.iri} version {framework.version}")


def _lms_targets(settings: Settings, engine: Engine) -> list[Finding]:
    """Each configured LMS target's own check (it calls the LMS: credentials, permissions,
    fields), then whether deliveries are stuck."""
    from lrs_connector.lms.config import TargetConfigError, targets_from_settings
    from lrs_connector.store import outbox

    try:
        targets = targets_from_settings(settings, engine)
    except TargetConfigError as exc:
        return [Finding("lms targets", False, str(exc), "fix the [lms_targets] configuration")]
    if not targets:
        return [Finding("lms targets", True, "none configured: readiness stays in the connector "
                        "(see docs/lms.md)", severity="warning")]
    findings = []
    for name, target in targets.items():
        for found in target.check():
            findings.append(Finding(f"lms {name}: {found.check}", found.ok, found.message,
                                    found.fix))
    with database.read(engine) as conn:
        counts = outbox.counts(conn)
    for name in targets:
        dead = counts.get(name, {}).get("dead", 0)
        unresolved = counts.get(name, {}).get("unresolved", 0)
        if dead:
            findings.append(Finding(f"lms {name}: dead letters", False,
                                    f"{dead} deliveries given up on",
                                    f"see `lrs-connector outbox list --target {name} --status "
                                    "dead`, fix the cause, then `outbox retry`", "warning"))
        if unresolved:
            findings.append(Finding(f"lms {name}: unresolved learners", False,
                                    f"{unresolved} deliveries wait for a user match",
                                    f"`lrs-connector lms unresolved --target {name}`, then "
                                    "`lms link`", "warning"))
    return findings


def _public_url(settings: Settings) -> Finding:
    parts = urlsplit(settings.public_base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return Finding(
            "public_base_url",
            False,
            f"{settings.public_base_url!r} is not an http(s) URL",
            "set LRS_CONNECTOR_PUBLIC_BASE_URL to the URL LRSs and users reach",
        )
    if parts.hostname in ("127.0.0.1", "localhost"):
        return Finding(
            "public_base_url",
            False,
            f"{settings.public_base_url} only works on this machine",
            "set LRS_CONNECTOR_PUBLIC_BASE_URL before other systems connect",
            "warning",
        )
    return Finding("public_base_url", True, settings.public_base_url)


def _data_dir(settings: Settings) -> Finding:
    folder = Path(settings.resolved_data_dir)
    probe = folder if folder.exists() else folder.parent
    if os.access(probe, os.W_OK):
        return Finding("data_dir", True, f"{folder} is writable")
    return Finding(
        "data_dir",
        False,
        f"{folder} is not writable",
        "set LRS_CONNECTOR_DATA_DIR to a folder this user can write",
    )
