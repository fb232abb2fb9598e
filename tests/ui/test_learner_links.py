"""Signed learner links and the installation's secret key."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta

import pytest

from lrs_connector import learner_links, secret_key
from lrs_connector.settings import load_settings

SECRET = "s" * 40
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_a_link_names_its_learner_until_it_expires():
    token = learner_links.issue(SECRET, 42, NOW, days=7)
    link = learner_links.read(SECRET, token, NOW + timedelta(days=6))
    assert link.learner_id == 42
    assert link.expires_at == NOW + timedelta(days=7)
    with pytest.raises(learner_links.LinkError, match="expired on 2026-12-05") as caught:
        learner_links.read(SECRET, token, NOW + timedelta(days=7))
    assert caught.value.reason == "expired"


def test_a_changed_link_or_another_key_is_refused():
    token = learner_links.issue(SECRET, 42, NOW)
    forged = learner_links.issue("another secret key of enough length!", 43, NOW)
    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), token[:20], forged, "", "x" * 300):
        with pytest.raises(learner_links.LinkError) as caught:
            learner_links.read(SECRET, bad, NOW)
        assert caught.value.reason == "invalid"


def test_link_lifetime_and_learner_are_bounded():
    with pytest.raises(ValueError, match="1 to 400 days"):
        learner_links.issue(SECRET, 1, NOW, days=401)
    with pytest.raises(ValueError, match="positive"):
        learner_links.issue(SECRET, 0, NOW)
    assert learner_links.url("https://c.example.org/", "abc") == "https://c.example.org/learner/abc"


def test_secret_key_is_created_once_private_and_reused(tmp_path):
    settings = load_settings(environ={}, overrides={"data_dir": str(tmp_path / "data")})
    first = secret_key.secret_key(settings)
    path = tmp_path / "data" / secret_key.FILE_NAME
    assert len(first) >= secret_key.MIN_LENGTH
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_key.secret_key(settings) == first
    assert list(path.parent.iterdir()) == [path]  # no temporary files left behind
