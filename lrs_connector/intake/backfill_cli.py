"""``lrs-connector backfill FILE…``: statements from LRS exports into intake, resumably.

The lead registers it on the main command: ``main.add_command(backfill)``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lrs_connector import memory
from lrs_connector.intake.pull_cli import settings_and_engine


@click.command("backfill")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("backfill-rejected.ndjson"),
    show_default=True,
    help="Rejected statements with their reasons, one JSON object per line (appended; "
    "a resumed run keeps it exact).",
)
@click.option("--as-source", help="Attribute the statements to this source.")
@click.option("--batch-size", type=int, default=1000, show_default=True)
@click.option("--restart", is_flag=True, help="Read the files from the start again.")
@click.option("--quiet", is_flag=True, help="No progress lines.")
@click.pass_context
def backfill(
    ctx: click.Context,
    files: tuple[Path, ...],
    report_path: Path,
    as_source: str | None,
    batch_size: int,
    restart: bool,
    quiet: bool,
):
    """Store the statements of JSON-array or NDJSON files (gzip too), like forwarded ones.

    Interrupted, it resumes where it stopped when run again with the same files.
    """
    from lrs_connector.intake.backfill import Backfill, BackfillError, ReportFile, format_progress
    from lrs_connector.intake.service import Intake

    settings, engine = settings_and_engine(ctx)
    terminal = sys.stderr.isatty()

    def show(progress) -> None:
        line = format_progress(progress)
        click.echo(("\r" + line) if terminal else line, err=True, nl=not terminal)

    try:
        with ReportFile(report_path) as report:
            runner = Backfill(
                engine,
                Intake.from_settings(engine, settings),
                report=report,
                source_name=as_source,
                batch_size=batch_size,
                progress=None if quiet else show,
            )
            memory.tune_for_throughput()
            results = runner.run(list(files), restart=restart)
    except BackfillError as exc:
        raise click.ClickException(str(exc)) from None
    if terminal and not quiet:
        click.echo("", err=True)
    rejected = 0
    for r in results:
        if r.already_done:
            click.echo(f"{r.path}: already backfilled ({r.skipped} statements); --restart to redo")
            continue
        resumed = f", resumed after {r.skipped}" if r.skipped else ""
        click.echo(
            f"{r.path}: {r.read} read{resumed}: {r.stored} stored, {r.duplicates} duplicate(s), "
            f"{r.rejected} rejected"
        )
        rejected += r.rejected
    if rejected:
        click.echo(f"{rejected} rejected statement(s): reasons in {report_path}")
