"""``lrs-connector mapping …``: import, publish and replay rule versions; explain, coverage and
what-if for the L&D analysts who write the rules (docs/mapping.md).

The lead registers the ``mapping`` group on the main CLI. Run on its own (tests), it reads the
settings from the environment like the main command does.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import orjson

from lrs_connector.mapping.document import MAX_DOCUMENT_BYTES, MappingError


def engine_from(ctx: click.Context):
    """The main command's migrated engine, or one built from the environment's settings."""
    obj = ctx.find_root().obj
    if obj is not None and hasattr(obj, "migrated_engine"):
        return obj.migrated_engine()
    from lrs_connector.settings import SettingsError, load_settings
    from lrs_connector.store import database, schema

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    engine = database.create_engine(settings.resolved_database_url)
    if not schema.is_current(engine):
        if settings.is_sqlite or settings.auto_migrate:
            schema.upgrade(engine)
        else:
            raise click.ClickException("the database schema is not current: run `db upgrade`")
    return engine


def echo_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


class Progress:
    """Statements done so far, on stderr, at most every half second (long replays)."""

    def __init__(self, label: str, total: int, enabled: bool) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self.done = 0
        self.started = self.last = datetime.now(UTC).timestamp()

    def __call__(self, count: int) -> None:
        self.done += count
        now = datetime.now(UTC).timestamp()
        if self.enabled and (now - self.last >= 0.5 or self.done >= self.total):
            self.last = now
            rate = self.done / max(now - self.started, 1e-9)
            share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
            click.echo(
                f"\r{self.label}: {self.done:,}/{self.total:,} statements{share}, {rate:,.0f}/s",
                err=True,
                nl=False,
            )

    def finish(self) -> None:
        if self.enabled and self.done:
            click.echo("", err=True)


def _statement_count(engine) -> int:
    from lrs_connector.store import database
    from lrs_connector.store import statements as stored

    with database.read(engine) as conn:
        return stored.count(conn)


def _problems(exc: MappingError) -> click.ClickException:
    lines = "\n".join(f"  {p}" for p in exc.problems)
    return click.ClickException(f"the rules have {len(exc.problems)} problem(s):\n{lines}")


@click.group("mapping")
def mapping() -> None:
    """Mapping rules: versions, explain, coverage, what-if and replay."""


_FRAMEWORK = click.option(
    "--framework",
    "framework_iri",
    metavar="IRI",
    help="Check targets against this stored framework (its latest version) instead of the "
    "framework in force: rules prepared for a framework before it is put in force.",
)


def _framework(conn, iri: str | None):
    from lrs_connector.store import frameworks

    if iri is None:
        return frameworks.in_force(conn)
    found = frameworks.latest(conn, iri)
    if found is None:
        raise click.BadParameter(f"no framework {iri} is stored", param_hint="--framework")
    return found


@mapping.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_FRAMEWORK
@click.pass_context
def check_command(ctx: click.Context, file: Path, framework_iri: str | None) -> None:
    """Validate a rules FILE (YAML or JSON) against the framework in force, without storing it."""
    from lrs_connector.store import database
    from lrs_connector.store.mapping import compile_version_text

    with database.read(engine_from(ctx)) as conn:
        framework = _framework(conn, framework_iri)
    try:
        compiled = compile_version_text(_read(file), str(file), framework)
    except MappingError as exc:
        raise _problems(exc) from None
    click.echo(f"{file}: {len(compiled.rules)} rules, no problems")


def _read(file: Path) -> str:
    if file.stat().st_size > MAX_DOCUMENT_BYTES:
        raise click.ClickException(f"{file}: larger than 2 MiB")
    return file.read_text(encoding="utf-8", errors="replace")


@mapping.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--publish", is_flag=True, help="Publish it at once (without a replay).")
@_FRAMEWORK
@click.pass_context
def import_command(
    ctx: click.Context, file: Path, publish: bool, framework_iri: str | None
) -> None:
    """Store a rules FILE as a new draft version (checked first; nothing stored on problems)."""
    from lrs_connector.store import database
    from lrs_connector.store import mapping as store

    engine = engine_from(ctx)
    try:
        with database.write(engine) as conn:
            version = store.import_version(
                conn, _read(file), str(file), datetime.now(UTC), publish=publish,
                framework=_framework(conn, framework_iri),
            )
    except MappingError as exc:
        raise _problems(exc) from None
    except store.TargetsMissing as exc:
        raise click.ClickException(str(exc)) from None
    state = "published" if publish else "draft"
    click.echo(f"mapping version {version} ({state}) from {file}")
    if not publish:
        click.echo(f"try it: lrs-connector mapping whatif {version}")


@mapping.command("versions")
@click.pass_context
def versions_command(ctx: click.Context) -> None:
    """The history: every version with its status."""
    from lrs_connector.store import database
    from lrs_connector.store import mapping as store

    with database.read(engine_from(ctx)) as conn:
        rows = store.versions(conn)
    for row in rows:
        click.echo(
            f"{row['version']:>4}  {row['status']:<9}  {row['name']}  "
            f"created {row['created_at'][:19]}  from {row['source']}"
        )
    if not rows:
        click.echo("no mapping versions yet (the bundled rules are published on first use)")


@mapping.command("show")
@click.argument("version", type=int)
@click.pass_context
def show_command(ctx: click.Context, version: int) -> None:
    """Print a version's rules document as it was imported."""
    from lrs_connector.store import database
    from lrs_connector.store import mapping as store

    with database.read(engine_from(ctx)) as conn:
        try:
            click.echo(store.document(conn, version))
        except store.VersionError as exc:
            raise click.ClickException(str(exc)) from None


@mapping.command("publish")
@click.argument("version", type=int)
@click.option("--replay", "then_replay", is_flag=True, help="Then replay stored statements.")
@click.option("--page-size", type=click.IntRange(10, 50_000), default=2000, show_default=True)
@click.pass_context
def publish_command(ctx: click.Context, version: int, then_replay: bool, page_size: int) -> None:
    """Put VERSION in force (the previous one is retired). New statements use it at once;
    stored ones only after a replay."""
    from lrs_connector.store import database
    from lrs_connector.store import mapping as store

    engine = engine_from(ctx)
    with database.write(engine) as conn:
        try:
            store.mapper(conn, version)  # still compiles against today's profiles
            previous = store.publish_version(conn, version, datetime.now(UTC))
        except store.VersionError as exc:
            raise click.ClickException(str(exc)) from None
        except MappingError as exc:
            raise _problems(exc) from None
    click.echo(
        f"mapping version {version} published"
        + (f" (version {previous} retired)" if previous else "")
    )
    if then_replay:
        _replay(engine, version, page_size)


@mapping.command("replay")
@click.option("--page-size", type=click.IntRange(10, 50_000), default=2000, show_default=True)
@click.pass_context
def replay_command(ctx: click.Context, page_size: int) -> None:
    """Map every stored statement again under the published version (idempotent)."""
    from lrs_connector.store import database
    from lrs_connector.store import mapping as store

    engine = engine_from(ctx)
    with database.write(engine) as conn:
        active = store.active(conn, datetime.now(UTC))
    if active is None:
        raise click.ClickException("no mapping version is published")
    _replay(engine, active.version, page_size)


def _replay(engine, version: int, page_size: int) -> None:
    from lrs_connector.store import database, evidence
    from lrs_connector.store import mapping as store

    with database.read(engine) as conn:
        mapper = store.mapper(conn, version)
    progress = Progress("replay", _statement_count(engine), sys.stderr.isatty())
    result = evidence.replay(engine, mapper, version, page_size=page_size, progress=progress)
    progress.finish()
    click.echo(
        f"replayed {result['statements']:,} statements under version {version}: "
        f"{result['evidence_rows']:,} evidence rows derived; readiness recomputed "
        f"({result['readiness_changes']:,} role scores changed)"
    )


@mapping.command("whatif")
@click.argument("version", type=int)
@click.option(
    "--limit",
    type=click.IntRange(1, 100_000),
    default=100,
    show_default=True,
    help="Learner/target changes listed (largest first).",
)
@click.option("--page-size", type=click.IntRange(10, 50_000), default=2000, show_default=True)
@click.pass_context
def whatif_command(ctx: click.Context, version: int, limit: int, page_size: int) -> None:
    """Evidence VERSION would add, remove or change per learner and target, compared with the
    evidence in force; nothing is written. JSON on stdout, progress on stderr."""
    from lrs_connector.store import database, evidence
    from lrs_connector.store import mapping as store

    engine = engine_from(ctx)
    with database.read(engine) as conn:
        try:
            mapper = store.mapper(conn, version)
        except store.VersionError as exc:
            raise click.ClickException(str(exc)) from None
        except MappingError as exc:
            raise _problems(exc) from None
    progress = Progress("what-if", _statement_count(engine), sys.stderr.isatty())
    report = evidence.whatif(engine, mapper, version, page_size=page_size, progress=progress)
    progress.finish()
    echo_json(report.as_dict(limit))


@mapping.command("explain")
@click.argument("statement_id")
@click.option("--version", type=int, help="A mapping version (default: the published one).")
@click.pass_context
def explain_command(ctx: click.Context, statement_id: str, version: int | None) -> None:
    """For one stored statement: every rule, matched or not, with the first condition that
    failed; its learners and evidence rows."""
    from lrs_connector.store.mapping_audit import ExplainError, explain

    engine = engine_from(ctx)
    try:
        echo_json(explain(engine, statement_id, version))
    except ExplainError as exc:
        raise click.ClickException(str(exc)) from None


@mapping.command("coverage")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.pass_context
def coverage_command(ctx: click.Context, limit: int) -> None:
    """What the published rules miss: unmapped verbs and activities, hits per rule,
    competencies and dimensions no rule feeds."""
    from lrs_connector.store.mapping_audit import ExplainError, coverage

    try:
        echo_json(coverage(engine_from(ctx), limit))
    except ExplainError as exc:
        raise click.ClickException(str(exc)) from None
