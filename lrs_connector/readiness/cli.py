"""``lrs-connector readiness …``: show a learner's readiness, recompute everyone's.

The lead registers the ``readiness`` group on the main CLI. Invoked on its own (tests), it
reads the settings from the environment like the main command does.
"""

from __future__ import annotations

import time

import click
import orjson

from lrs_connector.readiness.model import ModelError, from_settings


def _context(ctx: click.Context):
    """The main command's Context when registered there; one of our own otherwise."""
    from lrs_connector.cli import Context

    obj = ctx.find_object(Context)
    return obj if obj is not None else Context(None)


def _model(obj):
    try:
        return from_settings(obj.settings)
    except ModelError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


@click.group("readiness")
def readiness() -> None:
    """Readiness scores per role: show one learner, recompute everyone (docs/scoring.md)."""


@readiness.command("show")
@click.argument("learner", type=click.IntRange(min=1))
@click.option("--role", help="Only this role (IRI or code, e.g. ROLE.DIR).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead.")
@click.option("--no-evidence", is_flag=True, help="Leave out the evidence lines.")
@click.pass_context
def show(ctx: click.Context, learner: int, role: str | None, as_json: bool, no_evidence: bool):
    """Print LEARNER's readiness: scores, gaps, next steps, evidence, history."""
    from lrs_connector.readiness.report import report, role_by_reference, text
    from lrs_connector.store import database
    from lrs_connector.store import readiness as store

    obj = _context(ctx)
    model = _model(obj)
    engine = obj.migrated_engine()
    with database.read(engine) as conn:
        scorer = store.scorer(conn, model)
        role_iri = None
        if role:
            role_iri = role_by_reference(scorer, role)
            if role_iri is None:
                codes = ", ".join(r.code for r in scorer.framework.roles.values())
                raise click.BadParameter(f"no role {role!r}; roles: {codes}", param_hint="--role")
        if not store.learner_exists(conn, learner):
            raise click.ClickException(f"no learner {learner}")
        result = store.learner_readiness(conn, learner, model=model)
        data = report(
            scorer, result, learner_id=learner, role=role_iri,
            activities=store.activities(conn), history=store.history(conn, learner, role_iri),
        )
    if as_json:
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(text(data, evidence=not no_evidence))


@readiness.command("recompute")
@click.option("--chunk", default=2_000, show_default=True, type=click.IntRange(1, 100_000),
              help="Learners per transaction.")
@click.pass_context
def recompute(ctx: click.Context, chunk: int):
    """Recompute every learner's scores from evidence (after a framework or model change),
    streaming in chunks; role changes go to the history and the outbox."""
    from lrs_connector.store import readiness as store

    obj = _context(ctx)
    model = _model(obj)
    engine = obj.migrated_engine()
    started = time.perf_counter()

    def progress(outcome, last: int) -> None:
        click.echo(
            f"{outcome.learners} learners, {outcome.cells} cells, {outcome.changes} role "
            f"changes (up to learner {last}, {time.perf_counter() - started:.1f} s)",
            err=True,
        )

    outcome = store.recompute_all(engine, chunk_size=chunk, model=model, progress=progress)
    click.echo(
        f"recomputed {outcome.learners} learners: {outcome.cells} cells, "
        f"{outcome.changes} role scores changed in {time.perf_counter() - started:.1f} s"
    )


@readiness.command("refresh")
@click.option("--chunk", default=2_000, show_default=True, type=click.IntRange(1, 100_000),
              help="Learners per transaction.")
@click.pass_context
def refresh(ctx: click.Context, chunk: int):
    """Roll every learner up again at this moment from the stored cells: evidence fades and
    lapses with no new statement, and a score or level that moves reaches the history, the
    outbox (LMS) and the badges. The embedded processor does this daily."""
    from lrs_connector.store import readiness as store

    obj = _context(ctx)
    model = _model(obj)
    engine = obj.migrated_engine()
    started = time.perf_counter()
    outcome = store.refresh(engine, chunk_size=chunk, model=model)
    click.echo(
        f"refreshed {outcome.learners} learners: {outcome.changes} role scores of "
        f"{len(outcome.moved)} learners changed in {time.perf_counter() - started:.1f} s"
    )
