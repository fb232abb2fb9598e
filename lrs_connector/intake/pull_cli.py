"""``lrs-connector pull-sources …`` (configure the LRSs to poll) and ``lrs-connector pull``.

The lead registers both on the main command: ``main.add_command(pull)`` and
``main.add_command(pull_sources)``. Invoked on their own (tests), they read the settings from
the environment like the main command does.
"""

from __future__ import annotations

import threading

import click
import orjson

from lrs_connector import memory, worker_metrics
from lrs_connector.store import database
from lrs_connector.store import pull as store


def settings_and_engine(ctx: click.Context):
    obj = ctx.find_object(object)
    if obj is not None and hasattr(obj, "migrated_engine"):
        return obj.settings, obj.migrated_engine()
    from lrs_connector.settings import SettingsError, load_settings
    from lrs_connector.store import schema

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    engine = database.create_engine(settings.resolved_database_url)
    if not schema.is_current(engine):
        if not (settings.is_sqlite or settings.auto_migrate):
            raise click.ClickException(
                "the database schema is not current: run `lrs-connector db upgrade`"
            )
        schema.upgrade(engine)
    return settings, engine


def _write(ctx: click.Context, action):
    _, engine = settings_and_engine(ctx)
    try:
        with database.write(engine) as conn:
            return action(conn)
    except store.PullSourceError as exc:
        raise click.ClickException(str(exc)) from None


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


@click.group("pull-sources")
def pull_sources() -> None:
    """LRSs the connector polls for statements (see docs/sources.md)."""


@pull_sources.command("add")
@click.argument("name")
@click.option("--endpoint", required=True, help="The LRS's xAPI base URL (…/xAPI/, …/xapi/).")
@click.option("--username", default="", help="HTTP Basic user (the LRS's key).")
@click.option(
    "--password-env",
    metavar="VAR",
    help="Environment variable holding the password; the name is stored, not the value.",
)
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, resolve_path=True),
    help="File holding the password (e.g. a mounted secret); the path is stored.",
)
@click.option("--xapi-version", default="1.0.3", type=click.Choice(store.XAPI_VERSIONS))
@click.option("--interval", "interval_seconds", type=float, default=60.0, show_default=True)
@click.option("--timeout", "timeout_seconds", type=float, default=30.0, show_default=True)
@click.option(
    "--lookback",
    "lookback_seconds",
    type=float,
    default=300.0,
    show_default=True,
    help="Each pull asks from this long before the newest `stored` already pulled.",
)
@click.option("--page-size", type=int, default=500, show_default=True)
@click.option("--verb", help="Only statements with this verb IRI.")
@click.option("--activity", help="Only statements about this activity IRI.")
@click.option(
    "--related-activities", is_flag=True, help="--activity also matches context activities."
)
@click.option("--as-source", help="Attribute statements to this source (one that also forwards).")
@click.pass_context
def add(ctx: click.Context, name: str, password_env, password_file, verb, activity, **options):
    """Poll an LRS (the password is referenced, never stored)."""
    if password_env and password_file:
        raise click.UsageError("give --password-env or --password-file, not both")
    ref = ""
    if password_env:
        ref = f"env:{password_env}"
    elif password_file:
        ref = f"file:{password_file}"
    related = options.pop("related_activities")
    source_name = options.pop("as_source")
    filters = {"verb": verb, "activity": activity, "related_activities": related}
    source = _write(
        ctx,
        lambda conn: store.add(
            conn, name, password_ref=ref, filters=filters, source_name=source_name, **options
        ),
    )
    click.echo(f"{source.name}: polling {source.endpoint} every {source.interval_seconds:g} s")


@pull_sources.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(ctx: click.Context, as_json: bool):
    """Each pull source with its cursor, last success and last error."""
    rows = _write(ctx, store.list_all)
    if as_json:
        click.echo(orjson.dumps([r.as_dict() for r in rows], option=orjson.OPT_INDENT_2))
        return
    for r in rows:
        state = "enabled" if r.enabled else "disabled"
        click.echo(f"{r.name:24} {state:9} {r.endpoint}")
        click.echo(
            f"    cursor {_when(r.cursor_stored)}  pulled {r.pulled_total}  "
            f"last success {_when(r.last_success_at)}  next {_when(r.next_attempt_at)}"
        )
        if r.lease_owner:
            click.echo(f"    being pulled by {r.lease_owner} (lease until {_when(r.lease_until)})")
        if r.failures:
            click.echo(f"    FAILING x{r.failures} since {_when(r.last_error_at)}: {r.last_error}")
    if not rows:
        click.echo("no pull sources: add one with `lrs-connector pull-sources add`", err=True)


def _simple(name: str, action, help_text: str) -> None:
    def callback(name_: str) -> None:
        ctx = click.get_current_context()
        source = _write(ctx, lambda conn: action(conn, name_))
        cursor = f" (cursor {_when(source.cursor_stored)})" if source else ""
        click.echo(f"{name_}: {name}{cursor}")

    pull_sources.add_command(
        click.Command(
            name,
            callback=callback,
            params=[click.Argument(["name_"], metavar="NAME")],
            help=help_text,
        )
    )


def _remove(conn, name: str) -> None:
    store.remove(conn, name)


_simple("disable", lambda conn, name: store.set_enabled(conn, name, False), "Stop polling it.")
_simple("enable", lambda conn, name: store.set_enabled(conn, name, True), "Poll it again.")
_simple("remove", _remove, "Forget it (statements already pulled stay).")
_simple("reset", store.reset_cursor, "Pull everything again from the start (no duplicates).")


@click.command("pull")
@click.argument("source", required=False)
@click.option("--once", is_flag=True, help="Pull each source (or SOURCE) now, once, then exit.")
@worker_metrics.options
@click.pass_context
def pull(ctx: click.Context, source: str | None, once: bool, metrics_host: str,
         metrics_port: int | None):
    """Poll the pull sources (all enabled ones, or only SOURCE) for new statements."""
    from lrs_connector import logs
    from lrs_connector.intake.pull import Puller

    settings, engine = settings_and_engine(ctx)
    if source is not None:  # refused before anything starts, with or without --once
        with database.read(engine) as conn:
            try:
                store.get_enabled(conn, source)
            except store.PullSourceError as exc:
                raise click.ClickException(str(exc)) from None
    if not once:  # a long-running poller logs like the web service does
        logs.configure(settings.log_level, settings.log_format)
        worker_metrics.start(metrics_host, metrics_port)
    puller = Puller.from_settings(engine, settings)
    stop = threading.Event()
    failed = []

    def report(result) -> None:
        if result.busy:
            click.echo(f"{result.source}: being pulled by another process, skipped", err=True)
            return
        line = (
            f"{result.source}: {result.pages} page(s), {result.received} statement(s): "
            f"{result.stored} new, {result.duplicates} duplicate(s), "
            f"{result.quarantined} quarantined"
        )
        click.echo(line if result.error is None else f"{line}; FAILED: {result.error}")
        if result.error:
            failed.append(result.source)

    memory.tune_for_throughput()
    checkpoints = None if once else database.checkpoint_in_background(engine)
    try:
        results = puller.run(stop, name=source, once=once, on_result=report)
    except store.PullSourceError as exc:  # removed or disabled since the check above
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        stop.set()
        return
    finally:
        if checkpoints is not None:
            checkpoints.set()
    if once and not results:
        click.echo("no enabled pull sources", err=True)
    if failed:
        raise SystemExit(1)
