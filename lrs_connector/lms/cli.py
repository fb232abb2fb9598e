"""`lrs-connector worker`, `outbox …` and `lms …`: deliver, inspect and repair LMS delivery."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import click

from lrs_connector import worker_metrics
from lrs_connector.mapping.cli import echo_json, engine_from


def _settings(ctx: click.Context):
    obj = ctx.find_root().obj
    if obj is not None and hasattr(obj, "settings"):
        return obj.settings
    from lrs_connector.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


def _targets(ctx: click.Context, engine):
    from lrs_connector.lms.config import TargetConfigError, targets_from_settings

    try:
        return targets_from_settings(_settings(ctx), engine)
    except TargetConfigError as exc:
        raise click.ClickException(str(exc)) from None


def dispatcher_for(ctx: click.Context):
    from lrs_connector.lms.delivery import Dispatcher, Policy
    from lrs_connector.lms.links import links_for

    engine = engine_from(ctx)
    settings = _settings(ctx)
    return Dispatcher(engine, _targets(ctx, engine), Policy.from_settings(settings),
                      links=links_for(settings))


@click.command("worker")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--idle", type=click.FloatRange(0.05, 60), default=1.0, show_default=True,
              help="Seconds to wait when nothing is due.")
@worker_metrics.options
@click.pass_context
def worker(ctx: click.Context, once: bool, idle: float, metrics_host: str,
           metrics_port: int | None) -> None:
    """Deliver readiness changes to the LMS targets (run several on PostgreSQL)."""
    from lrs_connector import logs

    dispatcher = dispatcher_for(ctx)
    settings = _settings(ctx)
    logs.configure(settings.log_level, settings.log_format)  # as the web service does
    worker_metrics.start(metrics_host, metrics_port)
    if not dispatcher.targets:
        click.echo("no LMS targets configured (lms_targets); changes are only marked as seen",
                   err=True)
    if once:
        result = dispatcher.drain()
        click.echo(f"dispatched {result.dispatched} changes; "
                   + (", ".join(f"{k} {v}" for k, v in sorted(result.outcomes.items()))
                      or "nothing to deliver"))
        return
    stop = threading.Event()
    try:
        dispatcher.run(stop, idle)
    except KeyboardInterrupt:
        stop.set()


@click.group("outbox")
def outbox_group() -> None:
    """Deliveries of readiness changes to LMS targets: list, retry, discard."""


@outbox_group.command("list")
@click.option("--status", type=click.Choice(
    ["pending", "delivering", "delivered", "unresolved", "dead", "discarded"]))
@click.option("--target")
@click.option("--learner", "learner_id", type=int)
@click.option("--after", type=int, help="Continue after this delivery id (newest first).")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def outbox_list(ctx, status, target, learner_id, after, limit, as_json) -> None:
    """Deliveries, newest first."""
    from lrs_connector.store import database, outbox

    with database.read(engine_from(ctx)) as conn:
        rows = outbox.listing(conn, status=status, target=target, learner_id=learner_id,
                              after=after, limit=limit)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        detail = row["last_error"] or row["outcome"] or ""
        click.echo(f"{row['id']:>7}  {row['target']:<12} learner {row['learner_id']:<6} "
                   f"{row['role'].rsplit('/', 1)[-1]:<18} {row['score']!s:>5} "
                   f"{row['level']:<11} {row['status']:<10} x{row['attempts']}  {detail}")
    if not rows:
        click.echo("no deliveries")


@outbox_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--target", help="Every retryable delivery of this target.")
@click.option("--status", type=click.Choice(["dead", "unresolved", "discarded", "delivered"]),
              help="Only deliveries in this status.")
@click.pass_context
def outbox_retry(ctx, ids, target, status) -> None:
    """Send deliveries again from the first attempt (dead letters after a fix)."""
    from lrs_connector.store import database, outbox

    if not ids and not target and not status:
        raise click.UsageError("name delivery ids, or --target and/or --status")
    with database.write(engine_from(ctx)) as conn:
        count = outbox.retry(conn, datetime.now(UTC), ids, target, status)
    click.echo(f"{count} deliveries queued again")


@outbox_group.command("discard")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.pass_context
def outbox_discard(ctx, ids) -> None:
    """Stop trying to send these deliveries (kept for the record)."""
    from lrs_connector.store import database, outbox

    with database.write(engine_from(ctx)) as conn:
        count = outbox.discard(conn, ids, datetime.now(UTC))
    click.echo(f"{count} deliveries discarded")


@click.group("lms")
def lms_group() -> None:
    """LMS targets: their state, set-up checks, unresolved learners."""


@lms_group.command("targets")
@click.pass_context
def lms_targets(ctx) -> None:
    """Configured targets with their deliveries by status and the last one delivered."""
    from lrs_connector.store import database, outbox

    engine = engine_from(ctx)
    targets = _targets(ctx, engine)
    with database.read(engine) as conn:
        counts = outbox.counts(conn)
        last = {name: outbox.last_delivery(conn, name) for name in targets}
    if not targets:
        click.echo("no LMS targets configured (see docs/lms.md)")
    for name, target in targets.items():
        by_status = ", ".join(f"{s} {n}" for s, n in sorted(counts.get(name, {}).items()))
        when = last[name]["delivered_at"] if last[name] else "never"
        click.echo(f"{name} ({target.kind}): {by_status or 'no deliveries'}; "
                   f"last delivered {when}")


@lms_group.command("check")
@click.argument("target")
@click.pass_context
def lms_check(ctx, target) -> None:
    """Check a target's credentials, permissions and fields; say what to fix."""
    targets = _targets(ctx, engine_from(ctx))
    if target not in targets:
        known = ", ".join(targets) or "none configured"
        raise click.ClickException(f"no LMS target {target!r} (configured: {known})")
    findings = targets[target].check()
    for finding in findings:
        mark = "ok  " if finding.ok else "FAIL"
        click.echo(f"{mark} {finding.check}: {finding.message}")
        if finding.fix and not finding.ok:
            click.echo(f"     fix: {finding.fix}")
    if not all(f.ok for f in findings):
        raise SystemExit(1)


@lms_group.command("unresolved")
@click.option("--target")
@click.pass_context
def lms_unresolved(ctx, target) -> None:
    """Learners a target could not match to one of its users."""
    from lrs_connector.store import database, outbox

    with database.read(engine_from(ctx)) as conn:
        rows = outbox.unresolved(conn, target)
    for row in rows:
        click.echo(f"{row['target']:<12} learner {row['learner_id']:<6} {row['name'] or '-'}  "
                   f"waiting {row['waiting']}  known as {', '.join(row['aliases'])}")
    if not rows:
        click.echo("no unresolved learners")


@lms_group.command("link")
@click.argument("target")
@click.argument("learner_id", type=int)
@click.argument("user_id")
@click.pass_context
def lms_link(ctx, target, learner_id, user_id) -> None:
    """Tell a target who a learner is (its user id there); waiting deliveries go out."""
    from lrs_connector.store import database, outbox

    engine = engine_from(ctx)
    if target not in _targets(ctx, engine):
        raise click.ClickException(f"no LMS target {target!r}")
    with database.write(engine) as conn:
        from lrs_connector.store import learners

        if learners.get(conn, learner_id) is None:
            raise click.ClickException(f"no learner {learner_id}")
        count = outbox.link_user(conn, target, learner_id, user_id, datetime.now(UTC))
    click.echo(f"learner {learner_id} is user {user_id} at {target}; {count} deliveries queued")


@lms_group.command("resend")
@click.argument("target")
@click.pass_context
def lms_resend(ctx, target) -> None:
    """Queue every learner's current readiness for a target (after adding it)."""
    from lrs_connector.store import database, outbox

    engine = engine_from(ctx)
    if target not in _targets(ctx, engine):
        raise click.ClickException(f"no LMS target {target!r}")
    with database.write(engine) as conn:
        count = outbox.resend_current(conn, target, datetime.now(UTC))
    click.echo(f"{count} readiness scores queued for {target}")
