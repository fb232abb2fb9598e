"""Settings: defaults, TOML, environment, and precise errors naming the bad setting."""

from __future__ import annotations

import pytest

from lrs_connector.settings import SettingsError, load_settings, option_reference


def test_defaults_need_no_configuration(tmp_path):
    settings = load_settings(environ={"XDG_DATA_HOME": str(tmp_path)})
    assert settings.is_sqlite
    assert settings.resolved_database_url.endswith("lrs-connector/lrs-connector.db")
    assert settings.port == 8080


def test_environment_overrides_toml(tmp_path):
    config = tmp_path / "connector.toml"
    config.write_text(
        'port = 9000\nlog_level = "DEBUG"\nquarantine_normalisations = ["replace-invalid-id"]\n'
    )
    settings = load_settings(environ={"LRS_CONNECTOR_PORT": "9100"}, config_file=config)
    assert settings.port == 9100
    assert settings.log_level == "DEBUG"
    assert settings.quarantine_normalisations == ("replace-invalid-id",)


def test_toml_section_is_optional(tmp_path):
    config = tmp_path / "connector.toml"
    config.write_text("[lrs_connector]\nweb_workers = 3\n")
    assert load_settings(environ={}, config_file=config).web_workers == 3


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LRS_CONNECTOR_PORT": "eighty"}, "LRS_CONNECTOR_PORT: expected integer for port"),
        ({"LRS_CONNECTOR_PORT": "0"}, "port must be at least 1"),
        ({"LRS_CONNECTOR_LOG_FORMAT": "xml"}, "log_format must be one of auto, json, text"),
        ({"LRS_CONNECTOR_EMBEDDED_PROCESSOR": "maybe"}, "expected boolean for embedded_processor"),
        ({"LRS_CONNECTOR_PROCESSOR_NICENESS": "20"}, "processor_niceness must be at most 19"),
        (
            {"LRS_CONNECTOR_DATABSE_URL": "sqlite://"},
            "unknown environment variable LRS_CONNECTOR_DATABSE_URL",
        ),
        ({"LRS_CONNECTOR_QUARANTINE_NORMALISATIONS": "magic"}, "unknown normalisation magic"),
        (
            {"LRS_CONNECTOR_QUARANTINE_NORMALISATIONS": "activity-id-to-iri"},
            "activity-id-to-iri needs the setting normalise_activity_iri_base",
        ),
        ({"LRS_CONNECTOR_DATABASE_URL": "notaurl"}, "DATABASE_URL: not a database URL"),
        ({"LRS_CONNECTOR_DATABASE_URL": "mysql://u:pw@h/db"}, "'mysql' databases are not supp"),
        (
            {"LRS_CONNECTOR_DATABASE_URL": "postgresql+nodriver://u:pw@h/db"},
            "the driver 'postgresql+nodriver' is not installed or not known",
        ),
        ({"LRS_CONNECTOR_PUBLIC_BASE_URL": "lrs.example.org"}, "must be an absolute http(s) URL"),
    ],
)
def test_wrong_settings_name_themselves(environ, message):
    with pytest.raises(SettingsError) as info:
        load_settings(environ=environ)
    assert message in str(info.value)


def test_a_wrong_database_url_is_named_without_its_password():
    with pytest.raises(SettingsError) as info:
        load_settings(environ={"LRS_CONNECTOR_DATABASE_URL": "mysql://u:hunter2@h/db"})
    assert "hunter2" not in str(info.value)


def test_unknown_and_malformed_toml(tmp_path):
    config = tmp_path / "connector.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(SettingsError, match="unknown setting 'prot'"):
        load_settings(environ={}, config_file=config)
    config.write_text("port = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(environ={}, config_file=config)
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(environ={}, config_file=tmp_path / "missing.toml")


def test_secrets_are_masked_in_descriptions():
    settings = load_settings(environ={"LRS_CONNECTOR_DATABASE_URL": "postgresql://u:pw@h/db"})
    assert settings.describe()["database_url"] == "***"


def test_reference_lists_every_option_with_its_variable():
    rows = {row["name"]: row for row in option_reference()}
    assert rows["port"]["env"] == "LRS_CONNECTOR_PORT"
    assert rows["port"]["type"] == "integer"
    assert rows["quarantine_normalisations"]["type"] == "list of strings"


def test_configuration_reference_in_docs_is_current():
    from pathlib import Path

    from lrs_connector.settings import reference_markdown

    docs = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
    assert docs.read_text() == reference_markdown(), (
        "regenerate: lrs-connector settings reference > docs/configuration.md"
    )


def test_a_bad_readiness_setting_stops_start_up_with_its_name():
    with pytest.raises(SettingsError) as info:
        load_settings(environ={"LRS_CONNECTOR_READINESS_KIND_WEIGHTS": "knowledge=lots"})
    assert "readiness_kind_weights" in str(info.value)


def test_proxy_hops_trust_forwarded_addresses_only_when_set(settings):
    from dataclasses import replace

    from flask import request

    from lrs_connector.app import create_app

    for hops, expected in ((0, "127.0.0.1"), (1, "203.0.113.9")):
        app = create_app(replace(settings, proxy_hops=hops))
        app.add_url_rule("/whoami", "whoami", lambda: request.remote_addr)
        try:
            seen = app.test_client().get("/whoami", headers={"X-Forwarded-For": "203.0.113.9"},
                                         environ_base={"REMOTE_ADDR": "127.0.0.1"})
            assert seen.get_data(as_text=True) == expected
        finally:
            app.extensions["lrs_engine"].dispose()


def test_public_base_url_follows_the_listening_address_unless_set():
    from lrs_connector.settings import listening_on

    assert load_settings(environ={}).public_base_url == "http://127.0.0.1:8080"
    moved = load_settings(environ={"LRS_CONNECTOR_PORT": "9000"})
    assert moved.public_base_url == "http://127.0.0.1:9000"
    everywhere = load_settings(environ={"LRS_CONNECTOR_HOST": "0.0.0.0"})
    assert everywhere.public_base_url == "http://127.0.0.1:8080"
    assert load_settings(environ={"LRS_CONNECTOR_HOST": "::1"}).public_base_url == (
        "http://[::1]:8080")
    proxied = load_settings(environ={"LRS_CONNECTOR_PORT": "9000",
                                     "LRS_CONNECTOR_PUBLIC_BASE_URL": "https://lrs.example.org"})
    assert proxied.public_base_url == "https://lrs.example.org"
    # `serve --port`: a derived URL follows, a configured one stays
    assert listening_on(moved, None, 9100).public_base_url == "http://127.0.0.1:9100"
    assert listening_on(proxied, "0.0.0.0", 9100).public_base_url == "https://lrs.example.org"
    assert listening_on(proxied, "0.0.0.0", 9100).port == 9100
