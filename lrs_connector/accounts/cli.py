"""``lrs-connector accounts …``: local accounts of the web consoles (roles admin, auditor).

Passwords are read with a hidden prompt (typed twice) or, with ``--password-stdin``, as one
line from standard input; never from the command line, where other users and shell history
would see them. The lead registers the ``accounts`` group on the main CLI.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from lrs_connector.accounts import ROLES, PasswordError, check_password, hash_password
from lrs_connector.accounts.roles import RoleError, check_username


def _context(ctx: click.Context):
    """The main command's Context when registered there; one of our own otherwise."""
    from lrs_connector.cli import Context

    obj = ctx.find_object(Context)
    return obj if obj is not None else Context(None)


def _engine(ctx: click.Context):
    return _context(ctx).migrated_engine()


def _new_password(username: str, from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline(4096)
        password = line[:-1] if line.endswith("\n") else line
        password = password.removesuffix("\r")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True,
                                prompt_suffix=": ")
    try:
        check_password(password, username)
    except PasswordError as exc:
        raise click.ClickException(str(exc)) from None
    return hash_password(password)


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group("accounts")
def accounts() -> None:
    """Local accounts for the web consoles (roles admin, auditor)."""


_STDIN = click.option("--password-stdin", is_flag=True,
                      help="Read the password as one line from standard input (scripts).")


@accounts.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@_STDIN
@click.pass_context
def add(ctx: click.Context, username: str, role: str, password_stdin: bool) -> None:
    """Create an account; asks for its password."""
    from lrs_connector.store import accounts as store
    from lrs_connector.store import database

    try:
        username = check_username(username)
    except RoleError as exc:
        raise _fail(exc) from None
    engine = _engine(ctx)
    with database.read(engine) as conn:
        if store.find(conn, username) is not None:
            raise click.ClickException(f"an account named {username!r} already exists")
    password_hash = _new_password(username, password_stdin)
    try:
        with database.write(engine) as conn:
            account = store.add(conn, username, role, password_hash, datetime.now(UTC))
    except store.AccountError as exc:
        raise _fail(exc) from None
    click.echo(f"account {account.username} ({account.role}) created")


@accounts.command("list")
@click.pass_context
def list_command(ctx: click.Context) -> None:
    """Every account: username, role, enabled, last sign-in."""
    from lrs_connector.store import accounts as store
    from lrs_connector.store import database

    with database.read(_engine(ctx)) as conn:
        rows = store.listing(conn)
    for a in rows:
        last = a.last_login_at.isoformat(timespec="seconds") if a.last_login_at else "never"
        state = "enabled" if a.enabled else "disabled"
        click.echo(f"{a.username:<32} {a.role:<8} {state:<9} last sign-in {last}")
    if not rows:
        click.echo("no accounts yet: lrs-connector accounts add NAME --role auditor", err=True)


def _set_enabled(ctx: click.Context, username: str, enabled: bool) -> None:
    from lrs_connector.store import accounts as store
    from lrs_connector.store import database

    try:
        with database.write(_engine(ctx)) as conn:
            account = store.set_enabled(conn, username, enabled)
    except store.AccountError as exc:
        raise _fail(exc) from None
    done = "enabled" if account.enabled else "disabled (its sessions are ended)"
    click.echo(f"account {account.username} {done}")


@accounts.command("disable")
@click.argument("username")
@click.pass_context
def disable(ctx: click.Context, username: str) -> None:
    """Stop an account signing in and end its sessions."""
    _set_enabled(ctx, username, False)


@accounts.command("enable")
@click.argument("username")
@click.pass_context
def enable(ctx: click.Context, username: str) -> None:
    """Let a disabled account sign in again."""
    _set_enabled(ctx, username, True)


@accounts.command("set-password")
@click.argument("username")
@_STDIN
@click.pass_context
def set_password(ctx: click.Context, username: str, password_stdin: bool) -> None:
    """Give an account a new password (its sessions are ended)."""
    from lrs_connector.store import accounts as store
    from lrs_connector.store import database

    engine = _engine(ctx)
    with database.read(engine) as conn:
        found = store.find(conn, username)
    if found is None:
        raise click.ClickException(f"no account named {username!r}")
    password_hash = _new_password(found.username, password_stdin)
    try:
        with database.write(engine) as conn:
            store.set_password(conn, found.username, password_hash, datetime.now(UTC))
    except store.AccountError as exc:
        raise _fail(exc) from None
    click.echo(f"password of {found.username} changed; its sessions are ended")


@click.command("link")
@click.argument("learner", type=click.IntRange(min=1))
@click.option("--days", type=click.IntRange(1, 400), default=90, show_default=True,
              help="How long the link works.")
@click.pass_context
def learner_link(ctx: click.Context, learner: int, days: int) -> None:
    """Print a signed link to a learner's readiness page (for their LMS profile)."""
    from lrs_connector import learner_links, secret_key
    from lrs_connector.store import database, learner_pages

    obj = _context(ctx)
    with database.read(obj.migrated_engine()) as conn:
        found = learner_pages.learner(conn, learner)
    if found is None:
        raise click.ClickException(f"no learner {learner}")
    try:
        key = secret_key.secret_key(obj.settings)
    except secret_key.SecretKeyError as exc:
        raise _fail(exc) from None
    now = datetime.now(UTC)
    token = learner_links.issue(key, found.id, now, days)
    if found.id != learner:
        click.echo(f"learner {learner} was merged into {found.id}; linking to {found.id}",
                   err=True)
    click.echo(learner_links.url(obj.settings.public_base_url, token))
