"""``lrs-connector learners …``: list and show learners, merge two, split aliases off one.

The lead registers the ``learners`` group on the main CLI.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from lrs_connector.learners import parse_alias
from lrs_connector.mapping.cli import echo_json, engine_from


@click.group("learners")
def learners() -> None:
    """Learners (people behind statement actors), their aliases and evidence."""


@learners.command("list")
@click.option("--after", type=int, default=0, help="Start after this learner id.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--include-merged", is_flag=True, help="Also learners merged into others.")
@click.pass_context
def list_command(ctx: click.Context, after: int, limit: int, include_merged: bool) -> None:
    """Learners by id, with alias and active evidence counts."""
    from lrs_connector.store import database
    from lrs_connector.store import learners as store

    with database.read(engine_from(ctx)) as conn:
        rows = store.listing(conn, after=after, limit=limit, include_merged=include_merged)
    for row in rows:
        merged = f"  merged into {row['merged_into']}" if row["merged_into"] else ""
        click.echo(
            f"{row['id']:>6}  {row['name'] or '-'}  aliases {row['aliases']}  "
            f"evidence {row['evidence']}{merged}"
        )


@learners.command("show")
@click.argument("learner")
@click.pass_context
def show_command(ctx: click.Context, learner: str) -> None:
    """One learner (an id or an alias such as mbox:ada@example.org): aliases and evidence."""
    from lrs_connector.store import database, evidence
    from lrs_connector.store import learners as store

    with database.read(engine_from(ctx)) as conn:
        learner_id = _learner_id(conn, learner)
        info = store.get(conn, learner_id)
        if info is None:
            raise click.ClickException(f"no learner {learner}")
        echo_json(
            {
                **info.as_dict(),
                "targets": store.evidence_summary(conn, learner_id),
                "evidence": evidence.for_learner(conn, learner_id, limit=50),
            }
        )


def _learner_id(conn, text: str) -> int:
    from lrs_connector.store import learners as store

    if text.isdigit():
        return int(text)
    try:
        alias = parse_alias(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    found = store.by_alias(conn, alias)
    if found is None:
        raise click.ClickException(f"no learner has the alias {alias}")
    return found


@learners.command("merge")
@click.argument("keep")
@click.argument("away")
@click.pass_context
def merge_command(ctx: click.Context, keep: str, away: str) -> None:
    """Merge learner AWAY into KEEP: aliases and evidence move; AWAY points at KEEP."""
    from lrs_connector.store import database
    from lrs_connector.store import learners as store

    with database.write(engine_from(ctx)) as conn:
        keep_id, away_id = _learner_id(conn, keep), _learner_id(conn, away)
        try:
            moved = store.merge(conn, keep_id, away_id, datetime.now(UTC))
        except store.LearnerError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"learner {away_id} merged into {keep_id}: "
        f"{moved['aliases']} aliases and {moved['evidence']} evidence rows moved"
    )


@learners.command("split")
@click.argument("learner")
@click.argument("aliases", nargs=-1, required=True)
@click.option("--name", help="Name of the new learner.")
@click.pass_context
def split_command(ctx: click.Context, learner: str, aliases: tuple[str, ...], name: str | None):
    """Move ALIASES (and the evidence that came through them) to a new learner."""
    from lrs_connector.store import database
    from lrs_connector.store import learners as store

    try:
        keys = [parse_alias(a) for a in aliases]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    with database.write(engine_from(ctx)) as conn:
        learner_id = _learner_id(conn, learner)
        try:
            new_id, moved = store.split(conn, learner_id, keys, datetime.now(UTC), name)
        except store.LearnerError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"new learner {new_id} split from {learner_id}: "
        f"{moved['aliases']} aliases and {moved['evidence']} evidence rows moved"
    )
