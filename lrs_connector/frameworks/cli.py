"""``lrs-connector frameworks …``: import, export and list competency frameworks.

The lead registers the ``frameworks`` group on the main CLI. Invoked on its own (tests), the
group builds the same settings/engine context the main command would.
"""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from lrs_connector.frameworks import case, documents
from lrs_connector.frameworks.formats import FORMATS, read
from lrs_connector.frameworks.model import FrameworkError


def _context(ctx: click.Context):
    from lrs_connector.cli import Context  # the main CLI imports this module

    if not isinstance(ctx.obj, Context):
        ctx.obj = Context(None)
    return ctx.obj


@click.group("frameworks")
@click.pass_context
def frameworks(ctx: click.Context) -> None:
    """Competency frameworks: import CASE or native documents, export, list."""
    _context(ctx)


@frameworks.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="case: a 1EdTech CASE 1.0/1.1 CFPackage; native: an lrs-connector framework document; "
    "auto: CASE when the file has a CFDocument.",
)
@click.option("--replace", is_flag=True, help="Overwrite a stored framework of the same version.")
@click.pass_context
def import_command(ctx: click.Context, file: Path, fmt: str, replace: bool) -> None:
    """Validate FILE and store the framework it holds."""
    from lrs_connector.store import database
    from lrs_connector.store import frameworks as store

    if file.stat().st_size > documents.MAX_DOCUMENT_BYTES:
        raise click.ClickException(
            f"{file}: larger than the {documents.MAX_DOCUMENT_BYTES} bytes accepted"
        )
    try:
        framework, source = read(file.read_bytes(), fmt)
    except FrameworkError as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    engine = _context(ctx).migrated_engine()
    try:
        with database.write(engine) as conn:
            entry, changed = store.save(conn, framework, source, replace=replace)
    except store.FrameworkExists as exc:
        raise click.ClickException(f"{file}: {exc} (--replace)") from None
    except store.NotUsable as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    what = "imported" if changed else "already stored, unchanged:"
    click.echo(
        f"{what} {entry.iri} version {entry.version} ({len(framework.competencies)} "
        f"competencies, {len(framework.dimensions)} dimensions, {len(framework.roles)} roles, "
        f"source {entry.source})"
    )
    if changed and entry.iri == store.in_force_iri():
        click.echo("it is now the framework in force: run `lrs-connector readiness recompute`, "
                   "then `lrs-connector badges sync`")


@frameworks.command("export")
@click.argument("iri")
@click.option("--version", "version", help="Framework version (default: the latest).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("case", "native")),
    default="native",
    show_default=True,
)
@click.option(
    "--case-version",
    type=click.Choice(case.CASE_VERSIONS),
    default="1.1",
    show_default=True,
    help="CASE 1.0 packages cannot carry roles.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: stdout."
)
@click.pass_context
def export_command(
    ctx: click.Context,
    iri: str,
    version: str | None,
    fmt: str,
    case_version: str,
    output: Path | None,
) -> None:
    """Write the framework IRI as native JSON or as a CASE package."""
    from lrs_connector.store import database
    from lrs_connector.store import frameworks as store

    with database.read(_context(ctx).migrated_engine()) as conn:
        framework = store.get(conn, iri, version)
    if framework is None:
        suffix = f" version {version}" if version else ""
        raise click.ClickException(f"no framework {iri}{suffix}; see `frameworks list`")
    if fmt == "case":
        text = orjson.dumps(
            case.package_from_framework(framework, case_version=case_version),
            option=orjson.OPT_INDENT_2,
        ).decode()
    else:
        text = documents.dumps(framework).rstrip("\n")
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


@frameworks.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """Stored frameworks and the bundled one."""
    from lrs_connector.store import database
    from lrs_connector.store import frameworks as store

    with database.read(_context(ctx).migrated_engine()) as conn:
        entries = store.list_frameworks(conn)
    if as_json:
        entries_json = [e.as_dict() for e in entries]
        click.echo(orjson.dumps(entries_json, option=orjson.OPT_INDENT_2).decode())
        return
    for e in entries:
        when = e.imported_at.isoformat(timespec="seconds") if e.imported_at else "package data"
        click.echo(f"{e.iri}\t{e.version}\t{e.source}\t{when}\t{e.name}")
