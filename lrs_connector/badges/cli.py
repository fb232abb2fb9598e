"""``lrs-connector badges …``: sync awards with readiness, list them, revoke one.

The lead registers the ``badges`` group on the main CLI. Invoked on its own (tests), it reads
the settings from the environment like the main command does.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click
import orjson

from lrs_connector import badges as core


def _context(ctx: click.Context):
    """The main command's Context when registered there; one of our own otherwise."""
    from lrs_connector.cli import Context

    obj = ctx.find_object(Context)
    return obj if obj is not None else Context(None)


def _configured(ctx: click.Context):
    """(context, badge configuration), the configuration also given to the store."""
    from lrs_connector.store import badges as store

    obj = _context(ctx)
    try:
        cfg = core.config_from_settings(obj.settings)
    except core.BadgeConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    store.configure(cfg)
    return obj, cfg


def _off_message(cfg: core.BadgeConfig) -> str | None:
    if not cfg.badge_levels:
        return "badges are off: badges_levels is empty"
    if not cfg.issuer_email:
        return ("badges are off: set badges_issuer_email (the issuer's contact address, "
                "which Open Badges 2.0 requires)")
    return None


@click.group("badges")
def badges() -> None:
    """Open Badges 2.0 readiness badges: sync with readiness, list, revoke (docs/badges.md)."""


@badges.command("sync")
@click.option("--chunk", default=2_000, show_default=True, type=click.IntRange(1, 100_000),
              help="Learners per transaction.")
@click.pass_context
def sync(ctx: click.Context, chunk: int):
    """Award and revoke badges for every learner from their stored readiness levels (run
    after `readiness recompute`; processing keeps them in step between runs)."""
    from lrs_connector.store import badges as store

    obj, cfg = _configured(ctx)
    off = _off_message(cfg)
    if off:
        raise click.ClickException(off)
    engine = obj.migrated_engine()
    started = time.perf_counter()

    def progress(outcome, last: int) -> None:
        click.echo(f"{outcome.learners} learners (up to learner {last}, "
                   f"{time.perf_counter() - started:.1f} s)", err=True)

    outcome = store.sync_all(engine, chunk_size=chunk, progress=progress)
    click.echo(
        f"synced {outcome.learners} learners: {outcome.awarded} awarded, {outcome.revoked} "
        f"revoked, {outcome.pending} waiting for an email address "
        f"({time.perf_counter() - started:.1f} s)"
    )


@badges.command("list")
@click.option("--learner", type=click.IntRange(min=1), help="Only this learner's badges.")
@click.option("--pending", is_flag=True,
              help="Badges earned by learners with no known email address instead.")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked badges.")
@click.option("--limit", default=1_000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_badges(ctx: click.Context, learner: int | None, pending: bool, include_revoked: bool,
                limit: int, as_json: bool):
    """List awarded badges (valid ones unless --all), or with --pending the badges waiting
    for an email address."""
    from lrs_connector.store import badges as store
    from lrs_connector.store import database

    obj, cfg = _configured(ctx)
    engine = obj.migrated_engine()
    with database.read(engine) as conn:
        if pending:
            rows = store.pending(conn, learner_id=learner, limit=limit)
        else:
            rows = store.assertions(conn, learner_id=learner, include_revoked=include_revoked,
                                    limit=limit)
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    off = _off_message(cfg)
    if off:
        click.echo(off, err=True)
    if not rows:
        click.echo("no badges waiting for an email address" if pending else "no badges")
        return
    for row in rows:
        if pending:
            click.echo(f"learner {row['learner_id']}  {row['level']:<12} {row['role']}  "
                       "(no email address known)")
            continue
        status = "valid" if row["revoked_at"] is None else (
            f"revoked {row['revoked_at'][:10]} by {row['revoked_by']}: {row['revocation_reason']}"
        )
        click.echo(f"{row['id']}  learner {row['learner_id']}  {row['level']:<12} "
                   f"{row['issued_on'][:10]}  {status}\n    {row['role']}\n    {row['url']}")


@badges.command("revoke")
@click.argument("assertion")
@click.option("--reason", required=True,
              help="Why, in one line. It is published in the revocation list: no personal data.")
@click.pass_context
def revoke(ctx: click.Context, assertion: str, reason: str):
    """Revoke ASSERTION (its id, or its URL). The learner does not get the same badge again."""
    from lrs_connector.store import badges as store
    from lrs_connector.store import database

    obj, _ = _configured(ctx)
    assertion_id = assertion.rstrip("/").rsplit("/", 1)[-1].lower()
    if not core.ASSERTION_ID.match(assertion_id):
        raise click.BadParameter("expected an assertion id (a UUID) or its URL",
                                 param_hint="ASSERTION")
    try:
        text = core.clean_reason(reason)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--reason") from None
    engine = obj.migrated_engine()
    with database.write(engine) as conn:
        done = store.revoke(conn, assertion_id, text, datetime.now(UTC))
    if not done:
        raise click.ClickException(f"no valid badge {assertion_id}")
    click.echo(f"revoked {assertion_id}: {text}")
