"""The one settings object: defaults, then an optional TOML file, then `LRS_CONNECTOR_*` variables.

Every option is declared once below, with its type, default and help text; start-up validates all of
them and a wrong value stops the service with a message naming the option and where it came from.
The configuration reference in docs/configuration.md is generated from these declarations.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

ENV_PREFIX = "LRS_CONNECTOR_"
CONFIG_FILE_VARIABLE = ENV_PREFIX + "CONFIG"


class SettingsError(ValueError):
    """A setting is missing, unknown or has a value of the wrong kind."""


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "lrs-connector")


def _option(default: Any, help: str, *, secret: bool = False, choices: tuple = (), minimum=None,
            maximum=None):
    return field(
        default=default,
        metadata={"help": help, "secret": secret, "choices": choices, "minimum": minimum,
                  "maximum": maximum},
    )


@dataclass(frozen=True)
class Settings:
    """Validated configuration; build it with `load_settings()`."""

    data_dir: str = _option(
        "",
        "Folder for the embedded SQLite database and other local state. "
        "Empty means $XDG_DATA_HOME/lrs-connector (~/.local/share/lrs-connector).",
    )
    database_url: str = _option(
        "",
        "SQLAlchemy database URL. Empty means SQLite in data_dir. "
        "PostgreSQL: postgresql+psycopg://user:password@host/dbname.",
        secret=True,
    )
    public_base_url: str = _option(
        "http://127.0.0.1:8080",
        "The URL users and LRSs reach the connector at; used in the `authority` the connector "
        "sets and in links it publishes. Not set: `http://HOST:PORT` from `host` and `port` "
        "(127.0.0.1 when listening on every address); behind a proxy, set it.",
    )
    host: str = _option("127.0.0.1", "Address `lrs-connector serve` listens on.")
    proxy_hops: int = _option(
        0,
        "Reverse proxies in front of the service (nginx: 1). Their X-Forwarded-For and "
        "X-Forwarded-Proto are trusted from that many hops, so logs, login throttling and "
        "links see the client's address and scheme. Leave 0 when clients connect directly "
        "(the headers could then be forged).",
        minimum=0,
    )
    port: int = _option(8080, "Port `lrs-connector serve` listens on.", minimum=1)
    web_workers: int = _option(
        2,
        "Web server processes started by `serve`, about one per CPU core (on 2 cores, 2 "
        "processes of 2 threads answered as many requests as 3 or 4 in bench/ingest.py).",
        minimum=1,
    )
    web_threads: int = _option(
        2, "Requests each web server process answers at once (its threads).", minimum=1
    )
    auto_migrate: bool = _option(
        True,
        "`serve` applies pending database migrations at start. Turn off when several "
        "processes share one database and run `lrs-connector db upgrade` once per release.",
    )
    embedded_processor: bool = _option(
        True,
        "Run the statement processing loop under `serve`, in a process of its own started by "
        "a web process (one per web process on PostgreSQL, one in all on SQLite). Turn off "
        "when running `lrs-connector process` workers separately.",
    )
    processor_niceness: int = _option(
        10,
        "How much lower the CPU priority of `serve`'s processing process is than the web "
        "processes' (Unix nice, 0-19). When a burst of statements keeps every core busy, "
        "answering the LRSs comes first and processing catches up after; 0 shares the CPU "
        "evenly (bench/ingest.py on 2 cores, 500-statement batches, runs taken in turns: "
        "17,700-18,200 statements/s stored at 10, 14,100-15,400/s with processing in a web "
        "process's thread; a separate process at 0 did as well as the thread).",
        minimum=0,
        maximum=19,
    )
    process_batch_size: int = _option(
        500, "Statements a processing worker takes per transaction.", minimum=1
    )
    process_idle_seconds: float = _option(
        0.1,
        "How long a processing worker sleeps when it found fewer statements than a batch. "
        "Short sleeps keep batches small under a steady trickle: on SQLite a batch holds the "
        "write turn, and requests wait for it (bench/ingest.py single POSTs, p99 27-37 ms at "
        "0.5 s, 18-22 ms at 0.1 s).",
        minimum=0.01,
    )
    max_request_bytes: int = _option(
        8 * 1024 * 1024, "Largest request body accepted; larger ones get 413.", minimum=1024
    )
    max_json_depth: int = _option(
        32, "Deepest JSON nesting accepted in a request body (400 beyond it).", minimum=8
    )
    max_batch_statements: int = _option(5000, "Most statements accepted in one request.", minimum=1)
    quarantine_normalisations: tuple[str, ...] = _option(
        (),
        "Normalisations applied when a quarantined statement is re-admitted without a "
        "corrected copy (see docs/intake.md). Comma-separated in the environment.",
    )
    normalise_activity_iri_base: str = _option(
        "",
        "Base IRI the `activity-id-to-iri` normalisation puts in front of activity ids that "
        "are not IRIs, e.g. https://lms.example.org/activities/.",
    )
    credential_cache_seconds: float = _option(
        5.0,
        "How long a verified credential is trusted before the database is asked again "
        "(a disabled or rotated source stops working within this time).",
        minimum=0.0,
    )
    ready_max_processing_lag_seconds: float = _option(
        300.0,
        "/readyz answers 503 when the oldest statement waiting for processing is older "
        "than this (a stopped or overwhelmed worker).",
        minimum=1.0,
    )
    # -- pulling from LRSs (lrs_connector/intake/pull.py) --
    embedded_puller: bool = _option(
        True,
        "Poll the configured pull sources (`lrs-connector pull-sources`) inside `serve`. "
        "Turn off when running `lrs-connector pull` separately.",
    )
    pull_max_backoff_seconds: float = _option(
        900.0,
        "Longest wait before retrying a pull source that keeps failing (the wait doubles "
        "from its interval with each failure).",
        minimum=1.0,
    )
    # -- readiness scoring (lrs_connector/readiness; docs/scoring.md) --
    framework_iri: str = _option(
        "",
        "IRI of the framework in force: mapping rules name its competencies and dimensions, "
        "readiness scores its roles. Its latest imported version is used, else the bundled "
        "framework when the IRI is the bundled one's. Empty means the bundled framework's IRI "
        "(docs/frameworks.md).",
    )
    readiness_refresh_hours: float = _option(
        24.0,
        "How often a processing worker rolls every learner up again so that fading and lapsed "
        "evidence lowers stored scores, the LMS and badges (`lrs-connector readiness refresh`); "
        "0 never (run the command from a timer instead). Workers share one schedule.",
        minimum=0.0,
    )
    readiness_half_life_days: float = _option(
        365.0,
        "Evidence counts half as much after this many days (recency). Change it, then run "
        "`lrs-connector readiness recompute`.",
        minimum=1.0,
    )
    readiness_half_strength: float = _option(
        2.0,
        "Evidence strength that takes a learner half way to the top of the proficiency scale; "
        "each further amount halves the remaining distance.",
        minimum=0.001,
    )
    readiness_kind_weights: tuple[str, ...] = _option(
        ("knowledge=0.75", "practice=1.0", "feedback=1.0"),
        "Multiplier per evidence kind, as kind=number (other kinds count 0.5). "
        "Comma-separated in the environment.",
    )
    readiness_levels: tuple[str, ...] = _option(
        ("not ready=0", "emerging=25", "developing=50", "ready=80"),
        "Readiness levels as name=lowest score (0-100), the first from 0. "
        "Comma-separated in the environment.",
    )
    # -- readiness badges, Open Badges 2.0 (lrs_connector/badges; docs/badges.md) --
    badges_levels: tuple[str, ...] = _option(
        ("developing", "ready"),
        "Readiness levels (names from readiness_levels) that earn a badge per role; empty "
        "issues none. Comma-separated in the environment.",
    )
    badges_issuer_name: str = _option(
        "Learning and development readiness",
        "Name of the organisation that issues the badges (public, in the Issuer profile).",
    )
    badges_issuer_url: str = _option(
        "",
        "Web site of the issuing organisation (public). Empty means public_base_url.",
    )
    badges_issuer_email: str = _option(
        "",
        "Contact address of the issuer, required by Open Badges 2.0 (public). Badges are "
        "issued and served only once it is set.",
    )
    badges_issuer_description: str = _option(
        "",
        "A sentence about the issuer shown in the Issuer profile (public). Optional.",
    )
    # -- pushing readiness to LMSs (lrs_connector/lms; docs/lms.md) --
    lms_targets: str = _option(
        "",
        "LMS targets readiness is pushed to: `[lms_targets.NAME]` tables in the TOML file "
        "(see docs/lms.md), or the same as a JSON object in the environment.",
        secret=True,
    )
    embedded_dispatcher: bool = _option(
        True,
        "Deliver outbox entries to the LMS targets inside `serve`. Turn off when running "
        "`lrs-connector worker` processes separately.",
    )
    delivery_max_attempts: int = _option(
        8, "Attempts at one delivery before it is dead-lettered.", minimum=1
    )
    delivery_backoff_seconds: float = _option(
        30.0,
        "Wait before the first retry; each further retry doubles it (with jitter).",
        minimum=0.1,
    )
    delivery_max_backoff_seconds: float = _option(
        3600.0, "Longest wait between two attempts at one delivery.", minimum=1.0
    )
    delivery_lease_seconds: float = _option(
        120.0,
        "How long a worker may hold a delivery before another worker takes it over "
        "(a crashed worker's deliveries are re-delivered after this).",
        minimum=10.0,
    )
    lms_user_cache_seconds: float = _option(
        86400.0,
        "How long a learner's resolved LMS user is trusted before it is looked up again.",
        minimum=0.0,
    )
    # -- the web UI (lrs_connector/web/ui; docs/ui.md) --
    secret_key: str = _option(
        "",
        "Signs web console sessions and learner page links (at least 32 characters). Empty "
        "means a random key kept in data_dir/secret_key (one machine only: set it when several "
        "machines share a database). Changing it signs everyone out and invalidates learner "
        "links.",
        secret=True,
    )
    ui_frame_ancestors: tuple[str, ...] = _option(
        (),
        "LMS origins (https://host[:port]) allowed to show the learner page in a frame. "
        "Comma-separated in the environment.",
    )
    log_format: str = _option(
        "auto",
        "Log lines as `json`, readable `text`, or `auto` (text on a terminal).",
        choices=("auto", "json", "text"),
    )
    log_level: str = _option(
        "INFO", "Lowest level logged.", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.resolved_data_dir) / 'lrs-connector.db'}"

    @property
    def resolved_data_dir(self) -> str:
        return self.data_dir or _default_data_dir()

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def describe(self) -> dict[str, Any]:
        """The settings with secrets masked, for `doctor` and logs."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = "***" if f.metadata["secret"] and value else value
        return out


def option_reference() -> list[dict[str, Any]]:
    """Every option with its type, default, environment variable and help (for the docs)."""
    rows = []
    for f in fields(Settings):
        rows.append(
            {
                "name": f.name,
                "type": _type_name(f.type),
                "default": f.default,
                "env": ENV_PREFIX + f.name.upper(),
                "help": f.metadata["help"],
                "choices": f.metadata["choices"],
            }
        )
    return rows


def reference_markdown() -> str:
    """docs/configuration.md, generated (a test keeps the file in sync)."""
    lines = [
        "# Configuration reference",
        "",
        "Generated by `lrs-connector settings reference`; do not edit by hand.",
        "",
        "Settings come from, in rising precedence: the defaults below, a TOML file",
        f"(`--config FILE` or `{CONFIG_FILE_VARIABLE}`; keys as named here, at the top level or",
        "in an `[lrs_connector]` table), and environment variables. A wrong or unknown setting",
        "stops start-up with a message naming it.",
        "",
        "| setting | environment variable | type | default | what it does |",
        "|---|---|---|---|---|",
    ]
    for row in option_reference():
        default = row["default"]
        shown = "(empty)" if default in ("", ()) else f"`{default}`"
        text = row["help"]
        if row["choices"]:
            text += " One of: " + ", ".join(f"`{c}`" for c in row["choices"]) + "."
        lines.append(f"| `{row['name']}` | `{row['env']}` | {row['type']} | {shown} | {text} |")
    return "\n".join(lines) + "\n"


def listen_url(host: str, port: int) -> str:
    """`http://host:port` as a client on this machine reaches `serve` listening there."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def listening_on(settings: Settings, host: str | None, port: int | None) -> Settings:
    """The settings with `serve`'s address changed; a `public_base_url` that was the old
    address (not set, so derived from it) follows to the new one."""
    changed = replace(settings, host=host or settings.host, port=port or settings.port)
    if settings.public_base_url == listen_url(settings.host, settings.port):
        changed = replace(changed, public_base_url=listen_url(changed.host, changed.port))
    return changed


_DATABASE_EXAMPLES = (
    "sqlite:////var/lib/lrs-connector/lrs-connector.db or "
    "postgresql+psycopg://user:password@host/dbname"
)


def _check_database_url(url: str, origin: str) -> None:
    """A URL SQLAlchemy can open, for a database the connector supports, with its driver
    installed; the message never repeats the URL (it may hold a password)."""
    import sqlalchemy as sa
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = sa.engine.make_url(url)
    except ArgumentError:
        raise SettingsError(
            f"{origin}: not a database URL; expected {_DATABASE_EXAMPLES}"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise SettingsError(
            f"{origin}: {parsed.get_backend_name()!r} databases are not supported; "
            f"expected {_DATABASE_EXAMPLES}"
        )
    try:
        parsed.get_dialect().import_dbapi()
    except (NoSuchModuleError, ImportError) as exc:
        psycopg = parsed.drivername in ("postgresql", "postgresql+psycopg")
        hint = " (pip install 'lrs-connector[postgres]')" if psycopg else ""
        raise SettingsError(
            f"{origin}: the driver {parsed.drivername!r} is not installed or not known{hint}: "
            f"{type(exc).__name__}"
        ) from None


def _check_base_url(url: str, origin: str) -> None:
    """The connector's own address goes into every `authority` it sets (an IRL there)."""
    parsed = urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SettingsError(
            f"{origin}: public_base_url must be an absolute http(s) URL such as "
            "https://lrs.example.org"
        )


def load_settings(
    environ: Mapping[str, str] | None = None,
    config_file: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Defaults < TOML file (`config_file` or $LRS_CONNECTOR_CONFIG) < environment < overrides."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    known = {f.name: f for f in fields(Settings)}

    path = config_file or environ.get(CONFIG_FILE_VARIABLE)
    if path:
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise SettingsError(f"configuration file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"configuration file {path} is not valid TOML: {exc}") from None
        section = data.get("lrs_connector", data)
        for key, raw in section.items():
            if key == "lms_targets" and isinstance(raw, dict):
                raw = orjson.dumps(raw).decode()  # a TOML table, kept as its JSON text
            if key not in known:
                raise SettingsError(f"{path}: unknown setting {key!r}")
            values[key] = raw
            origins[key] = f"{path}: {key}"

    for name in known:
        env_name = ENV_PREFIX + name.upper()
        if env_name in environ:
            values[name] = environ[env_name]
            origins[name] = env_name
    for name in environ:
        if (
            name.startswith(ENV_PREFIX)
            and name != CONFIG_FILE_VARIABLE
            and name[len(ENV_PREFIX) :].lower() not in known
            and not name.startswith(ENV_PREFIX + "TEST_")
        ):
            raise SettingsError(f"unknown environment variable {name}")
    for name, raw in (overrides or {}).items():
        if name not in known:
            raise SettingsError(f"unknown setting {name!r}")
        values[name] = raw
        origins[name] = f"setting {name}"

    converted = {}
    for name, raw in values.items():
        f = known[name]
        converted[name] = _convert(raw, f, origins[name])
    if converted.get("database_url"):
        _check_database_url(converted["database_url"], origins["database_url"])
    if "public_base_url" in converted:
        _check_base_url(converted["public_base_url"], origins["public_base_url"])
    if converted.get("framework_iri"):
        from lrs_connector.frameworks.documents import is_iri

        if not is_iri(converted["framework_iri"]):
            raise SettingsError(
                f"{origins['framework_iri']}: framework_iri must be an absolute IRI"
            )
    if converted.get("quarantine_normalisations"):
        from lrs_connector.intake.normalise import NormaliseError, check_iri_base, check_names

        try:
            check_names(converted["quarantine_normalisations"])
            if "activity-id-to-iri" in converted["quarantine_normalisations"]:
                check_iri_base(converted.get("normalise_activity_iri_base", ""))
        except NormaliseError as exc:
            raise SettingsError(f"{origins['quarantine_normalisations']}: {exc}") from None
    if converted.get("lms_targets"):
        from lrs_connector.lms.config import TargetConfigError, check_all

        try:
            check_all(converted["lms_targets"])
        except TargetConfigError as exc:
            raise SettingsError(f"{origins['lms_targets']}: {exc}") from None
    for origin in converted.get("ui_frame_ancestors", ()):
        from lrs_connector.web.ui.security import FrameOriginError, check_frame_origin

        try:
            check_frame_origin(origin)
        except FrameOriginError as exc:
            raise SettingsError(f"{origins['ui_frame_ancestors']}: {exc}") from None
    if converted.get("readiness_refresh_hours", 0.0) > 24.0 * 366:
        raise SettingsError(f"{origins['readiness_refresh_hours']}: readiness_refresh_hours "
                            "must be at most 8784 (a year); 0 turns the refresh off")
    if converted.get("secret_key") and len(converted["secret_key"]) < 32:
        raise SettingsError(f"{origins['secret_key']}: secret_key must be at least 32 characters")
    settings = Settings(**converted)
    if "public_base_url" not in converted:
        settings = replace(settings, public_base_url=listen_url(settings.host, settings.port))
    from lrs_connector.readiness.model import ModelError, from_settings

    try:
        from_settings(settings)
    except ModelError as exc:
        raise SettingsError(f"{exc.field}: {exc.message}") from None
    from lrs_connector.badges import BadgeConfigError, config_from_settings

    try:
        config_from_settings(settings)
    except BadgeConfigError as exc:
        raise SettingsError(f"{exc.field}: {exc.message}") from None
    return settings


def _type_name(annotation: Any) -> str:
    return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
        str(annotation), "list of strings"
    )


def _convert(raw: Any, f, origin: str) -> Any:
    kind = str(f.type)
    try:
        if kind == "bool":
            value = _to_bool(raw)
        elif kind == "int":
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            value = int(raw)
        elif kind == "float":
            if isinstance(raw, bool):
                raise ValueError
            value = float(raw)
        elif kind == "str":
            if not isinstance(raw, str):
                raise ValueError
            value = raw
        else:
            if isinstance(raw, str):
                value = tuple(part.strip() for part in raw.split(",") if part.strip())
            elif isinstance(raw, list) and all(isinstance(p, str) for p in raw):
                value = tuple(raw)
            else:
                raise ValueError
    except (TypeError, ValueError):
        raise SettingsError(
            f"{origin}: expected {_type_name(f.type)} for {f.name}, got {raw!r}"
        ) from None
    choices = f.metadata["choices"]
    if choices and value not in choices:
        raise SettingsError(
            f"{origin}: {f.name} must be one of {', '.join(choices)}, got {value!r}"
        )
    minimum = f.metadata["minimum"]
    if minimum is not None and value < minimum:
        raise SettingsError(f"{origin}: {f.name} must be at least {minimum}, got {value!r}")
    maximum = f.metadata["maximum"]
    if maximum is not None and value > maximum:
        raise SettingsError(f"{origin}: {f.name} must be at most {maximum}, got {value!r}")
    return value


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if isinstance(raw, str) and raw.strip().lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)
