"""``lrs-connector keys list|rotate``: the LTI tool's signing keys (see docs/lms-lti-canvas.md).

The lead registers the ``keys`` group on the main CLI: ``main.add_command(keys)``. Private keys
are never printed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from lrs_connector.mapping.cli import echo_json, engine_from


@click.group("keys")
def keys() -> None:
    """The LTI tool's signing keys, published at /.well-known/jwks.json."""


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """Stored keys, newest first: current, retired (still published until …) or expired."""
    from lrs_connector.store import database
    from lrs_connector.store import keys as store

    with database.read(engine_from(ctx)) as conn:
        rows = store.listing(conn, datetime.now(UTC))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no signing key yet: one is made when a platform first fetches the JWKS "
                   "or an LTI target first asks for a token (or run `keys rotate`)")
        return
    for row in rows:
        when = (f"published until {row['published_until'][:19]}" if row["state"] == "retired"
                else "no longer published" if row["state"] == "expired" else "signing")
        click.echo(f"{row['kid']}  {row['state']:<9}  created {row['created_at'][:19]}  {when}")


@keys.command("rotate")
@click.option("--compromised", is_flag=True,
              help="Drop the old key at once instead of keeping it published for the grace "
                   "period (tokens signed with it stop working immediately).")
@click.pass_context
def rotate_command(ctx: click.Context, compromised: bool) -> None:
    """Make a new signing key; the old one stays published for the grace period."""
    from lrs_connector.store import database
    from lrs_connector.store import keys as store

    with database.write(engine_from(ctx)) as conn:
        key, retired, dropped = store.rotate(conn, datetime.now(UTC), compromised=compromised)
    hours = store.GRACE.total_seconds() / 3600
    click.echo(f"new signing key {key.kid} is current")
    for kid in retired:
        click.echo(f"retired {kid}: still published for {hours:g} hours")
    for kid in dropped:
        click.echo(f"dropped {kid}: no longer published")
