"""``lrs-connector profile …``: check profiles, match statements to templates and patterns.

The lead registers the ``profile`` group on the main CLI. Without ``--profile`` the bundled
profiles (``xapi_profiles/``) are used.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from lrs_connector.profiles.checking import ERROR, check
from lrs_connector.profiles.documents import ProfileError, load_bundled, load_profiles
from lrs_connector.profiles.profileset import ProfileSet


@click.group("profile")
def profile() -> None:
    """Check xAPI Profiles and match statements against their templates and patterns."""


def parse_statements(text: str, source: str = "input") -> list[dict[str, Any]]:
    """A statement, a JSON array of statements, or NDJSON (one statement per line)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise click.BadParameter(
                    f"{source} line {number}: not JSON ({exc.msg}); expected a statement, "
                    "an array of statements or one statement per line"
                ) from exc
    statements = data if isinstance(data, list) else [data]
    for index, statement in enumerate(statements):
        if not isinstance(statement, dict):
            raise click.BadParameter(f"{source}: item {index} is not a JSON object")
    return statements


def _profile_set(paths: Sequence[Path]) -> ProfileSet:
    try:
        return ProfileSet(load_profiles(paths) if paths else load_bundled())
    except ProfileError as exc:
        raise click.ClickException(str(exc)) from exc


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


_PROFILE_OPTION = click.option(
    "--profile",
    "profile_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Profile file or folder (repeatable). Default: the bundled profiles.",
)


@profile.command("check")
@click.argument("files", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--lenient", is_flag=True, help="Report MUST violations as warnings.")
@click.option("--with-bundled", is_flag=True, help="Also load the bundled profiles.")
@click.option("--json", "as_json", is_flag=True, help="Print findings as JSON.")
def check_command(
    files: tuple[Path, ...], lenient: bool, with_bundled: bool, as_json: bool
) -> None:
    """Check profile documents (default: the bundled ones); exit 1 on errors."""
    try:
        loaded = load_profiles(files) if files else []
        if with_bundled or not files:
            loaded = load_bundled() + loaded
        profile_set = ProfileSet(loaded)
    except ProfileError as exc:
        click.echo(f"ERROR   {exc}", err=not as_json)
        raise SystemExit(1) from exc
    findings = check(profile_set, strict=not lenient)
    errors = sum(f.severity == ERROR for f in findings)
    if as_json:
        _emit({"findings": [f.as_dict() for f in findings], "errors": errors})
    else:
        for finding in findings:
            click.echo(str(finding))
        click.echo(
            f"{len(profile_set.profiles)} profile(s): {errors} error(s), "
            f"{len(findings) - errors} warning(s) ({'lenient' if lenient else 'strict'})"
        )
    if errors:
        raise SystemExit(1)


@profile.command("match")
@_PROFILE_OPTION
@click.option("--template", "template_ids", multiple=True, help="Only this template id.")
@click.option(
    "--refs",
    type=click.File("r"),
    help="Statements that StatementRefs may point to (same formats as the input).",
)
@click.option("--all", "show_all", is_flag=True, help="Also list templates that do not apply.")
@click.argument("statement_file", type=click.File("r"), default="-")
def match_command(
    profile_paths: tuple[Path, ...],
    template_ids: tuple[str, ...],
    refs: Any,
    show_all: bool,
    statement_file: Any,
) -> None:
    """Match statements (a statement, a JSON array or NDJSON; '-' for stdin) to templates."""
    profile_set = _profile_set(profile_paths)
    for template_id in template_ids:
        if profile_set.template_node(template_id) is None:
            raise click.BadParameter(f"unknown template {template_id}", param_hint="--template")
    statements = parse_statements(statement_file.read(), statement_file.name)
    known = {s["id"]: s for s in statements if isinstance(s.get("id"), str)}
    if refs is not None:
        for statement in parse_statements(refs.read(), refs.name):
            if isinstance(statement.get("id"), str):
                known.setdefault(statement["id"], statement)
    try:
        results = [
            profile_set.match_statement(
                s, template_ids=template_ids or None, statement_refs=known
            ).as_dict(include_unmatched=show_all)
            for s in statements
        ]
    except ProfileError as exc:
        raise click.ClickException(f"{exc} (run 'profile check' on the profile)") from exc
    _emit({"results": results})


@profile.command("pattern")
@_PROFILE_OPTION
@click.option("--pattern", "pattern_ids", multiple=True, help="Pattern id (default: primary).")
@click.option("--keep-order", is_flag=True, help="Use input order instead of timestamps.")
@click.argument("statements_file", type=click.File("r"))
def pattern_command(
    profile_paths: tuple[Path, ...],
    pattern_ids: tuple[str, ...],
    keep_order: bool,
    statements_file: Any,
) -> None:
    """Match statements, grouped by registration, against patterns."""
    profile_set = _profile_set(profile_paths)
    for pattern_id in pattern_ids:
        if profile_set.pattern_node(pattern_id) is None:
            raise click.BadParameter(f"unknown pattern {pattern_id}", param_hint="--pattern")
    statements = parse_statements(statements_file.read(), statements_file.name)
    known = {s["id"]: s for s in statements if isinstance(s.get("id"), str)}
    # failed_at in the output indexes the input file, not the registration's series.
    groups: dict[str | None, list[int]] = {}
    for index, statement in enumerate(statements):
        context = statement.get("context")
        registration = context.get("registration") if isinstance(context, dict) else None
        groups.setdefault(registration, []).append(index)
    try:
        patterns = (
            [profile_set.pattern(p) for p in pattern_ids]
            if pattern_ids
            else profile_set.patterns(primary_only=True)
        )
        report = []
        for registration, indexes in groups.items():
            series = [statements[i] for i in indexes]
            results = []
            for p in patterns:
                result = profile_set.match_pattern(
                    p.id, series, statement_refs=known, order_by_timestamp=not keep_order
                )
                if result.failed_at is not None:
                    result.failed_at = indexes[result.failed_at]
                results.append(result.as_dict())
            report.append(
                {
                    "registration": registration,
                    "statements": len(indexes),
                    "follows": any(r["status"] == "match" for r in results),
                    "patterns": results,
                }
            )
    except ProfileError as exc:
        raise click.ClickException(f"{exc} (run 'profile check' on the profile)") from exc
    _emit({"registrations": report})
