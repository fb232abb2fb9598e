"""Delivery tests run against real HTTP receivers on 127.0.0.1 and the test database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from lrs_connector.settings import load_settings
from tests.delivery.receiver import start

SECRET = "a-shared-secret-of-some-length"


@pytest.fixture
def receiver():
    found, server = start(SECRET)
    yield found
    server.shutdown()


@pytest.fixture
def second_receiver():
    found, server = start(SECRET)
    yield found
    server.shutdown()


@pytest.fixture
def settings(database_url, tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    return load_settings(
        environ={},
        overrides={
            "database_url": database_url,
            "data_dir": str(tmp_path),
            "credential_cache_seconds": 0.0,
            "log_format": "text",
            "public_base_url": "http://127.0.0.1:8080",
            "lms_targets": orjson.dumps(
                {"hr": {"kind": "webhook", "url": receiver.url, "secret_env": "HOOK_SECRET"}}
            ).decode(),
        },
    )


class Clock:
    """Time the dispatcher sees; tests move it past backoffs and leases."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runner(runner, settings, monkeypatch):
    """The CLI runner, with the same LMS targets as the app."""
    monkeypatch.setenv("LRS_CONNECTOR_LMS_TARGETS", settings.lms_targets)
    return runner
