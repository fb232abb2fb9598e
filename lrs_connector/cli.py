"""The `lrs-connector` command line: serve, migrate, sources and tokens, process, quarantine."""

from __future__ import annotations

import logging
import threading

import click
import orjson

from lrs_connector import memory, worker_metrics
from lrs_connector.accounts.cli import accounts, learner_link
from lrs_connector.badges.cli import badges
from lrs_connector.frameworks.cli import frameworks
from lrs_connector.intake.backfill_cli import backfill
from lrs_connector.intake.pull_cli import pull, pull_sources
from lrs_connector.learners.cli import learners
from lrs_connector.lms.cli import lms_group, outbox_group, worker
from lrs_connector.lms.keys_cli import keys
from lrs_connector.mapping.cli import mapping
from lrs_connector.profiles.cli import profile
from lrs_connector.readiness.cli import readiness
from lrs_connector.settings import Settings, SettingsError, load_settings


class Context:
    """Settings and engine, made on first use so `--help` never touches the database."""

    def __init__(self, config_file: str | None) -> None:
        self.config_file = config_file
        self._settings: Settings | None = None
        self._engine = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(config_file=self.config_file)
            except SettingsError as exc:
                raise click.ClickException(f"configuration: {exc}") from None
            from lrs_connector import processing

            processing.configure_handlers(self._settings)
        return self._settings

    @property
    def engine(self):
        if self._engine is None:
            from lrs_connector.store.database import create_engine

            self._engine = create_engine(self.settings.resolved_database_url)
        return self._engine

    def migrated_engine(self):
        """The engine, after checking the schema is current (or upgrading the embedded default)."""
        from lrs_connector.store import schema

        if not schema.is_current(self.engine):
            if self.settings.is_sqlite or self.settings.auto_migrate:
                schema.upgrade(self.engine)
            else:
                raise click.ClickException(
                    "the database schema is not current: run `lrs-connector db upgrade`"
                )
        return self.engine


pass_ctx = click.make_pass_decorator(Context)


def _echo_json(value) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    envvar="LRS_CONNECTOR_CONFIG",
    help="TOML settings file (default: $LRS_CONNECTOR_CONFIG).",
)
@click.version_option(package_name="lrs-connector")
@click.pass_context
def main(ctx: click.Context, config_file: str | None) -> None:
    """lrs-connector: xAPI statements in, competency readiness out to the LMS."""
    ctx.obj = Context(config_file)


# -- serve / process ----------------------------------------------------------------------


@main.command()
@click.option("--host", help="Listen address (setting: host).")
@click.option("--port", type=int, help="Listen port (setting: port).")
@click.option("--workers", type=int, help="Web processes (setting: web_workers).")
@click.option("--demo", is_flag=True, help="Load the demo source and statements first.")
@pass_ctx
def serve(obj: Context, host: str | None, port: int | None, workers: int | None, demo: bool):
    """Run the web service (granian) with the embedded processor."""
    from dataclasses import replace

    from lrs_connector import serve as server
    from lrs_connector.settings import listening_on

    settings = listening_on(obj.settings, host, port)
    if workers is not None:
        settings = replace(settings, web_workers=workers)
    if demo:
        from lrs_connector import demo as demo_data

        settings = demo_data.with_demo_settings(settings)  # a demo badge issuer, if none is set
    server.prepare_metrics_folder(settings)
    if settings.auto_migrate:
        from lrs_connector.store import schema

        schema.upgrade(obj.engine)
    else:
        obj.migrated_engine()
    if demo:
        demo_data.load(obj.engine, settings, echo=click.echo)
        for line in demo_data.summary(obj.engine, settings):
            click.echo(line)
    click.echo(f"lrs-connector listening on http://{settings.host}:{settings.port}", err=True)
    obj.engine.dispose()
    server.run(settings)


@main.command()
@click.option("--once", is_flag=True, help="Process what is queued, then exit.")
@click.option("--batch-size", type=int, help="Statements per transaction.")
@worker_metrics.options
@pass_ctx
def process(obj: Context, once: bool, batch_size: int | None, metrics_host: str,
            metrics_port: int | None):
    """Take queued statements and process them (a worker; run several on PostgreSQL)."""
    from lrs_connector import logs, processing
    from lrs_connector.store import database

    engine = obj.migrated_engine()
    logs.configure(obj.settings.log_level, obj.settings.log_format)  # as the web service does
    worker_metrics.start(metrics_host, metrics_port)
    stop = threading.Event()
    size = batch_size or obj.settings.process_batch_size
    memory.tune_for_throughput()
    checkpoints = None if once else database.checkpoint_in_background(engine)
    try:
        total = processing.run(
            engine,
            batch_size=size,
            idle_seconds=obj.settings.process_idle_seconds,
            stop=stop,
            once=once,
            on_batch=lambda n: click.echo(f"processed {n} statement(s)", err=True),
            refresh_hours=0.0 if once else obj.settings.readiness_refresh_hours,
        )
    except KeyboardInterrupt:
        stop.set()
        return
    except Exception as exc:
        logging.getLogger(__name__).exception("processing failed")
        raise click.ClickException(
            f"processing failed ({type(exc).__name__}: {exc}); the batch stays queued"
        ) from None
    finally:
        if checkpoints is not None:
            checkpoints.set()
    click.echo(f"processed {total} statement(s) in all")


# -- settings -----------------------------------------------------------------------------


@main.group("settings")
def settings_group():
    """Configuration."""


@settings_group.command("show")
@pass_ctx
def settings_show(obj: Context):
    """The effective settings, secrets masked."""
    _echo_json(obj.settings.describe())


@settings_group.command("reference")
def settings_reference():
    """Print the configuration reference (docs/configuration.md)."""
    from lrs_connector.settings import reference_markdown

    click.echo(reference_markdown(), nl=False)


# -- database -----------------------------------------------------------------------------


@main.group()
def db():
    """Database schema."""


@db.command()
@pass_ctx
def upgrade(obj: Context):
    """Apply pending migrations."""
    from lrs_connector.store import schema

    schema.upgrade(obj.engine)
    click.echo(f"database at revision {', '.join(sorted(schema.current_revisions(obj.engine)))}")


@db.command()
@pass_ctx
def current(obj: Context):
    """Show the schema revision and whether it is current."""
    from lrs_connector.store import schema

    revisions = schema.current_revisions(obj.engine)
    state = "current" if schema.is_current(obj.engine) else "upgrade needed"
    click.echo(f"{', '.join(sorted(revisions)) or 'empty'} ({state})")


# -- sources and tokens -------------------------------------------------------------------


def _holder_group(name: str, holders_name: str, help_text: str, with_role: bool) -> click.Group:
    group = click.Group(name, help=help_text)

    def holders():
        from lrs_connector.store import holders as module

        return getattr(module, holders_name)

    def run(obj: Context, action):
        from lrs_connector.store import database
        from lrs_connector.store.holders import HolderError

        engine = obj.migrated_engine()
        try:
            with database.write(engine) as conn:
                return action(conn)
        except HolderError as exc:
            raise click.ClickException(str(exc)) from None

    def show_secret(holder, new) -> None:
        click.echo(f"{holder.name}: key {new.key}")
        click.echo(f"  secret       {new.secret}")
        click.echo(f"  bearer token {new.bearer_token}")
        click.echo("Store the secret now: it is not shown again.", err=True)

    add_params = [click.Argument(["name"])]
    if with_role:
        add_params.append(
            click.Option(["--role"], type=click.Choice(["admin", "auditor"]), required=True)
        )
    else:
        add_params.append(click.Option(["--description"], default=""))

    @click.pass_obj
    def add(obj: Context, name: str, **extra):
        holder, new = run(obj, lambda conn: holders().add(conn, name, **extra))
        show_secret(holder, new)

    group.add_command(click.Command("add", callback=add, params=add_params, help="Create one."))

    @group.command("list")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    def list_(obj: Context, as_json: bool):
        """List them (secrets are never shown)."""
        rows = run(obj, lambda conn: holders().list(conn))
        if as_json:
            _echo_json([r.as_dict() for r in rows])
            return
        for r in rows:
            state = "enabled" if r.enabled else "disabled"
            extra = r.role if with_role else r.description
            click.echo(f"{r.name:30} {r.key:22} {state:9} {extra}")

    for verb, enabled in (("disable", False), ("enable", True)):

        def toggle(obj: Context, name: str, enabled=enabled):
            holder = run(obj, lambda conn: holders().set_enabled(conn, name, enabled))
            click.echo(f"{holder.name}: {'enabled' if holder.enabled else 'disabled'}")

        group.add_command(
            click.Command(
                verb,
                callback=click.pass_obj(toggle),
                params=[click.Argument(["name"])],
                help=f"{verb.capitalize()} one (takes effect within credential_cache_seconds).",
            )
        )

    @group.command()
    @click.argument("name")
    @click.pass_obj
    def rotate(obj: Context, name: str):
        """Issue a new secret; the old one stops working."""
        holder, new = run(obj, lambda conn: holders().rotate(conn, name))
        show_secret(holder, new)

    return group


main.add_command(
    _holder_group("sources", "SOURCES", "LRSs and emitters allowed to send statements.", False)
)
main.add_command(
    _holder_group("tokens", "TOKENS", "API tokens for the admin API (roles admin, auditor).", True)
)


learners.add_command(learner_link)
for command in (
    profile, frameworks, mapping, learners, readiness, pull, pull_sources, backfill,
    worker, outbox_group, lms_group, keys, accounts, badges,
):
    main.add_command(command)


# -- quarantine ---------------------------------------------------------------------------


@main.group()
def quarantine():
    """Forwarded statements held back as invalid."""


@quarantine.command("list")
@click.option(
    "--status", type=click.Choice(["held", "readmitted", "discarded", "all"]), default="held"
)
@click.option("--after", type=int, default=0, help="Show ids after this one.")
@click.option("--limit", type=int, default=50)
@pass_ctx
def quarantine_list(obj: Context, status: str, after: int, limit: int):
    """One line each: id, status, occurrences, statement id, first problem."""
    from lrs_connector.store import database
    from lrs_connector.store import quarantine as held

    with database.read(obj.migrated_engine()) as conn:
        rows = held.page(conn, status=None if status == "all" else status, after=after, limit=limit)
    for r in rows:
        first = r.problems[0] if r.problems else {"path": "", "rule": ""}
        click.echo(
            f"{r.id:6} {r.status:10} x{r.occurrences:<4} {r.statement_id or '-':36} "
            f"{first['path'] or '(statement)'}: {first['rule']}"
        )
    if not rows:
        click.echo("nothing here", err=True)


@quarantine.command("show")
@click.argument("held_id", type=int)
@pass_ctx
def quarantine_show(obj: Context, held_id: int):
    """The held statement with every problem found."""
    from lrs_connector.store import database
    from lrs_connector.store import quarantine as held

    with database.read(obj.migrated_engine()) as conn:
        row = held.get(conn, held_id)
    if row is None:
        raise click.ClickException(f"no quarantined statement {held_id}")
    _echo_json(row.as_dict())


@quarantine.command("readmit")
@click.argument("held_id", type=int)
@click.option(
    "--normalise",
    "normalisations",
    multiple=True,
    help="A normalisation to apply (repeatable); default: the quarantine_normalisations setting.",
)
@click.option(
    "--file",
    "corrected",
    type=click.File("rb"),
    help="A corrected copy of the statement (JSON) to store instead.",
)
@pass_ctx
def quarantine_readmit(obj: Context, held_id: int, normalisations, corrected):
    """Store a held statement after a fix."""
    from lrs_connector.intake.normalise import NormaliseError
    from lrs_connector.intake.service import Intake, IntakeError

    settings = obj.settings
    intake = Intake.from_settings(obj.migrated_engine(), settings)
    try:
        body = orjson.loads(corrected.read()) if corrected else None
    except orjson.JSONDecodeError as exc:
        raise click.ClickException(f"{corrected.name} is not valid JSON: {exc}") from None
    try:
        statement_id = intake.readmit(
            held_id,
            normalisations=list(normalisations or settings.quarantine_normalisations),
            corrected=body,
            iri_base=settings.normalise_activity_iri_base,
        )
    except (IntakeError, NormaliseError) as exc:
        problems = getattr(exc, "problems", [])
        for p in problems:
            click.echo(f"  {p['path'] or '(statement)'}: {p['rule']}", err=True)
        raise click.ClickException(str(exc)) from None
    click.echo(f"re-admitted as statement {statement_id}")


@quarantine.command("discard")
@click.argument("held_id", type=int)
@click.option("--reason", default="", help="Why (kept for the audit trail).")
@pass_ctx
def quarantine_discard(obj: Context, held_id: int, reason: str):
    """Drop a held statement on purpose."""
    from lrs_connector.intake.service import Intake, IntakeError

    settings = obj.settings
    intake = Intake.from_settings(obj.migrated_engine(), settings)
    try:
        intake.discard(held_id, reason)
    except IntakeError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"discarded {held_id}")


@main.command()
@pass_ctx
def doctor(obj: Context):
    """Check configuration, database, migrations, sources and processing; say what to fix."""
    from lrs_connector import doctor as checks

    findings = checks.examine(obj.settings, obj.engine)
    for f in findings:
        mark = "ok  " if f.ok else ("WARN" if f.severity == "warning" else "FAIL")
        click.echo(f"{mark} {f.check:16} {f.message}")
        if f.fix and not f.ok:
            click.echo(f"     {'':16} fix: {f.fix}")
    if any(not f.ok and f.severity == "error" for f in findings):
        raise SystemExit(1)


@main.command()
@pass_ctx
def demo(obj: Context):
    """Load the demo source and statements (idempotent)."""
    from lrs_connector import demo as demo_data

    settings = demo_data.with_demo_settings(obj.settings)
    engine = obj.migrated_engine()
    demo_data.load(engine, settings, echo=click.echo)
    for line in demo_data.summary(engine, settings):
        click.echo(line)
