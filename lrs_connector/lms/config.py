"""LMS targets from the configuration: `[lms_targets.NAME]` tables in the TOML file, or the same
as a JSON object in $LRS_CONNECTOR_LMS_TARGETS.

Each table has a `kind` naming a target module (below), whose marshmallow `ConfigSchema`
validates the rest and whose `build()` makes the Target. Every error names the target and the
field. Credentials are given as `<name>_file` (a file holding it, preferred), `<name>_env` (an
environment variable holding it) or, for trying things out, `<name>` itself; they are never
logged or shown.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import requests
from marshmallow import ValidationError

from lrs_connector.lms.targets import Secret, Target

#: kind -> module with ConfigSchema and build(name, config, context) -> Target
KINDS = {
    "moodle": "lrs_connector.lms.moodle",
    "lti": "lrs_connector.lms.lti",
    "canvas": "lrs_connector.lms.canvas",
    "webhook": "lrs_connector.lms.webhook",
}
MAX_TARGETS = 50


class TargetConfigError(ValueError):
    """A target's configuration is wrong; the message names the target and the field."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_pem: bytes


@dataclass
class TargetContext:
    """What targets may need from the running connector, without reaching into storage."""

    public_base_url: str
    http: requests.Session
    signing_key: Callable[[], SigningKey] | None = None  # the current LTI tool key
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)


def parse(raw: str | Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The `lms_targets` setting (a JSON text or a TOML table) as {name: table}; shape only."""
    if isinstance(raw, str):
        if not raw.strip():
            return {}
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise TargetConfigError(f"lms_targets is not valid JSON: {exc}") from None
    if not isinstance(raw, Mapping):
        raise TargetConfigError("lms_targets must be a table of targets, one per name")
    if len(raw) > MAX_TARGETS:
        raise TargetConfigError(f"lms_targets: at most {MAX_TARGETS} targets")
    tables = {}
    for name, table in raw.items():
        if not isinstance(name, str) or not name or len(name) > 64 or not all(
            c.isalnum() or c in "-_" for c in name
        ):
            raise TargetConfigError(
                f"lms_targets.{name}: a target name is 1-64 letters, digits, - or _"
            )
        if not isinstance(table, Mapping):
            raise TargetConfigError(f"lms_targets.{name}: expected a table")
        kind = table.get("kind")
        if kind not in KINDS:
            raise TargetConfigError(
                f"lms_targets.{name}.kind: must be one of {', '.join(KINDS)}, got {kind!r}"
            )
        tables[name] = dict(table)
    return tables


def validate(name: str, table: Mapping[str, Any]) -> dict[str, Any]:
    """One target's table checked by its kind's schema; returns the loaded values."""
    module = importlib.import_module(KINDS[table["kind"]])
    body = {k: v for k, v in table.items() if k != "kind"}
    try:
        return module.ConfigSchema().load(body)
    except ValidationError as exc:
        field, message = _first_error(exc.messages)
        raise TargetConfigError(f"lms_targets.{name}.{field}: {message}") from None


def build_all(raw: str | Mapping[str, Any], context: TargetContext) -> dict[str, Target]:
    targets = {}
    for name, table in parse(raw).items():
        module = importlib.import_module(KINDS[table["kind"]])
        targets[name] = module.build(name, validate(name, table), context)
    return targets


def check_all(raw: str | Mapping[str, Any]) -> None:
    """Validate every target's configuration (start-up); raises TargetConfigError."""
    for name, table in parse(raw).items():
        validate(name, table)


def _credential_keys(config: Mapping[str, Any], field: str) -> list[str]:
    return [k for k in (f"{field}_file", f"{field}_env", field) if config.get(k)]


def check_one_credential(data: Mapping[str, Any], field: str) -> None:
    """For a target's ConfigSchema: exactly one of `<field>_file`, `<field>_env`, `<field>`."""
    if len(_credential_keys(data, field)) != 1:
        raise ValidationError(
            f"give exactly one of {field}_file, {field}_env or {field}", field
        )


def read_secret(
    config: Mapping[str, Any], field: str, where: str, environ: Mapping[str, str] = os.environ
) -> Secret:
    """A credential given as `<field>_file`, `<field>_env` or `<field>` (exactly one)."""
    given = _credential_keys(config, field)
    if len(given) != 1:
        raise TargetConfigError(
            f"{where}: give exactly one of {field}_file, {field}_env or {field}"
        )
    key = given[0]
    if key.endswith("_file"):
        try:
            value = Path(config[key]).read_text().strip()
        except OSError as exc:
            raise TargetConfigError(f"{where}.{key}: cannot read {config[key]}: "
                                    f"{exc.strerror}") from None
    elif key.endswith("_env"):
        value = environ.get(config[key], "").strip()
        if not value:
            raise TargetConfigError(f"{where}.{key}: environment variable {config[key]} is "
                                    "not set")
    else:
        value = str(config[key])
    if not value:
        raise TargetConfigError(f"{where}.{key}: the credential is empty")
    return Secret(value)


def _first_error(messages: Any, path: str = "") -> tuple[str, str]:
    if isinstance(messages, dict):
        key, inner = next(iter(messages.items()))
        return _first_error(inner, f"{path}.{key}" if path else str(key))
    if isinstance(messages, list) and messages:
        if all(isinstance(m, str) for m in messages):
            return path or "_schema", "; ".join(messages)
        return _first_error(messages[0], path)
    return path or "_schema", str(messages)


def targets_from_settings(settings: Any, engine: Any = None) -> dict[str, Target]:
    """The configured targets, ready to deliver (LTI targets sign with the stored tool key)."""
    if not settings.lms_targets:
        return {}
    http = requests.Session()
    http.headers["User-Agent"] = "lrs-connector"
    signing_key = None
    if engine is not None:
        def signing_key() -> SigningKey:
            from lrs_connector.store import keys

            return keys.current_signing_key(engine)

    context = TargetContext(settings.public_base_url, http, signing_key)
    return build_all(settings.lms_targets, context)
