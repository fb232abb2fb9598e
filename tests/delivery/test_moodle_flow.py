"""The whole flow into a Moodle that answers as Moodle 4.4 does (tests/lms/moodle_double.py):
statements in over HTTP → evidence → readiness → profile fields written; and a delivery worker
killed mid-way loses nothing and writes nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from lrs_connector import demo, processing
from lrs_connector.app import create_app
from lrs_connector.lms.delivery import Dispatcher, Policy
from lrs_connector.settings import load_settings
from lrs_connector.store import database
from lrs_connector.store.lms_tables import deliveries
from lrs_connector.store.readiness_tables import readiness_roles
from tests.lms.moodle_double import moodle  # noqa: F401

ROLES = {"ROLE.TM": "readiness_tm", "ROLE.DIR": "readiness_director", "ROLE.CLO": "readiness_clo"}
DIR = "https://lrs-connector.dev/frameworks/lnd-leadership/roles/director"


def _targets(double) -> str:
    fields = {code: {"score": shortname} for code, shortname in ROLES.items()}
    fields["ROLE.DIR"]["level"] = "readiness_level"
    return orjson.dumps({"moodle": {
        "kind": "moodle", "url": double.url, "token": double.token,
        "match": ["account", "email"], "fields": fields,
    }}).decode()


@pytest.fixture
def moodle_app(database_url, tmp_path, moodle):  # noqa: F811
    for code, shortname in ROLES.items():
        if shortname not in moodle.fields:
            moodle.add_field(shortname, f"Readiness {code}")
    settings = load_settings(environ={}, overrides={
        "database_url": database_url, "data_dir": str(tmp_path), "log_format": "text",
        "credential_cache_seconds": 0.0, "lms_targets": _targets(moodle),
    })
    app = create_app(settings)
    yield app
    app.extensions["lrs_engine"].dispose()


def _moodle_statements(double) -> dict[str, int]:
    """The demo's statements as Moodle's xAPI log store sends them: actors are accounts on the
    site whose name is the Moodle user id (some learners), or carry only an email (others)."""
    users = {}
    found = []
    for statement in demo.statements():
        who = statement["actor"]["account"]["name"]
        if who not in users:
            name, email = demo.LEARNERS[who]
            users[who] = double.add_user(who, name.split()[0], name.split()[-1], email=email).id
        if users[who] % 2:
            actor = {"objectType": "Agent", "account": {"homePage": double.url,
                                                        "name": str(users[who])}}
        else:
            actor = {"objectType": "Agent", "mbox": f"mailto:{demo.LEARNERS[who][1]}"}
        found.append({**statement, "actor": actor})
    return users, found


def _post_and_process(app, statements, source_headers) -> None:
    client = app.test_client()
    answer = client.post("/xapi/statements", json=statements, headers=source_headers)
    assert answer.status_code == 200, answer.get_json()
    while processing.process_batch(app.extensions["lrs_engine"], 500):
        pass


@pytest.fixture
def source_headers(moodle_app):
    import base64

    from lrs_connector.store.holders import SOURCES

    with database.write(moodle_app.extensions["lrs_engine"]) as conn:
        _, new = SOURCES.add(conn, "moodle-lrs")
    token = base64.b64encode(f"{new.key}:{new.secret}".encode()).decode()
    return {"Authorization": f"Basic {token}", "X-Experience-API-Version": "1.0.3"}


def _expected(engine) -> dict[tuple[int, str], tuple[float, str]]:
    with database.read(engine) as conn:
        rows = conn.execute(sa.select(readiness_roles)).all()
    return {(r.learner_id, r.role): (round(r.score, 1), r.level) for r in rows}


def test_statements_reach_moodle_profiles(moodle_app, moodle, source_headers):  # noqa: F811
    users, statements = _moodle_statements(moodle)
    _post_and_process(moodle_app, statements, source_headers)
    engine = moodle_app.extensions["lrs_engine"]
    result = Dispatcher(engine, moodle_app.extensions["lrs_targets"], Policy()).drain()
    assert result.delivered > 0 and set(result.outcomes) == {"moodle:delivered"}
    with database.read(engine) as conn:
        who = dict(conn.execute(sa.text(
            "SELECT learner_id, user_id FROM lms_users WHERE target = 'moodle'")).all())
    assert len(who) >= 4 and {int(u) for u in who.values()} <= set(users.values())
    written = 0
    for (learner, role), (score, level) in _expected(engine).items():
        code = next(c for c, iri in [("ROLE.TM", "training-manager"), ("ROLE.DIR", "director"),
                                     ("ROLE.CLO", "clo")] if role.endswith("/" + iri))
        if learner not in who:
            assert score == 0  # nothing to say yet, so never looked up
            continue
        user = moodle.users[int(who[learner])]
        if score == 0 and ROLES[code] not in user.data:
            continue  # a first score of 0 is no news, and nothing is written
        assert user.data[ROLES[code]] == f"{score:.1f}"
        if code == "ROLE.DIR":
            assert user.data.get("readiness_level", "not ready") == level  # the default
        written += 1
    assert written >= 5
    calls = len(moodle.calls)
    again = Dispatcher(engine, moodle_app.extensions["lrs_targets"], Policy()).drain()
    assert again.attempted == 0 and len(moodle.calls) == calls


def _worker(app, lease: int = 10) -> subprocess.Popen:
    settings = app.extensions["lrs_settings"]
    env = {**os.environ, "LRS_CONNECTOR_DATABASE_URL": settings.database_url,
           "LRS_CONNECTOR_DATA_DIR": settings.data_dir,
           "LRS_CONNECTOR_LMS_TARGETS": settings.lms_targets,
           "LRS_CONNECTOR_DELIVERY_LEASE_SECONDS": str(lease),
           "LRS_CONNECTOR_LOG_FORMAT": "text"}
    return subprocess.Popen([sys.executable, "-m", "lrs_connector", "worker", "--idle", "0.2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_killed_delivery_loses_nothing_and_doubles_nothing(moodle_app, moodle,  # noqa: F811
                                                           source_headers):
    _, statements = _moodle_statements(moodle)
    _post_and_process(moodle_app, statements, source_headers)
    engine = moodle_app.extensions["lrs_engine"]
    moodle.delay = 0.3
    first = _worker(moodle_app)
    try:
        _wait(lambda: len(moodle.calls_to("core_user_update_users")) >= 2, 60)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    moodle.delay = 0.0
    second = _worker(moodle_app)

    def settled() -> bool:
        with database.read(engine) as conn:
            statuses = set(conn.execute(sa.select(deliveries.c.status)).scalars())
        return statuses == {"delivered"}

    try:
        _wait(settled, 60)
    finally:
        second.terminate()
        second.wait(10)
    written: dict[tuple[int, str], int] = {}
    for call in moodle.calls_to("core_user_update_users"):
        for user in call.params["users"]:
            for custom in user.get("customfields", []):
                key = (int(user["id"]), custom["type"])
                written[key] = written.get(key, 0) + 1
    assert written and max(written.values()) == 1  # read-compare-write: never twice
    with database.read(engine) as conn:
        who = dict(conn.execute(sa.text(
            "SELECT learner_id, user_id FROM lms_users WHERE target = 'moodle'")).all())
    for (learner, role), (score, _level) in _expected(engine).items():
        if learner not in who or role != DIR:
            continue
        profile = moodle.users[int(who[learner])].data
        if score or "readiness_director" in profile:
            assert profile["readiness_director"] == f"{score:.1f}"


def test_one_moodle_user_behind_two_learners_waits_for_a_merge(moodle_app, moodle,  # noqa: F811
                                                               source_headers):
    """The same person as an account (Moodle) and as an email (another LRS) is two learners
    until an admin merges them; writing both into one profile would flip its fields."""
    users, statements = _moodle_statements(moodle)
    amara = [s for s in statements if s["actor"] == {
        "objectType": "Agent", "account": {"homePage": moodle.url, "name": str(users["amara"])}}
        or s["actor"] == {"objectType": "Agent", "mbox": "mailto:amara.okafor@example.org"}]
    twin = [{**s, "id": s["id"][:-4] + "0000",
             "actor": {"objectType": "Agent", "mbox": "mailto:amara.okafor@example.org"}}
            if "account" in s["actor"] else
            {**s, "id": s["id"][:-4] + "0000", "actor": {"objectType": "Agent", "account": {
                "homePage": moodle.url, "name": str(users["amara"])}}} for s in amara]
    _post_and_process(moodle_app, statements + twin, source_headers)
    engine = moodle_app.extensions["lrs_engine"]
    Dispatcher(engine, moodle_app.extensions["lrs_targets"], Policy()).drain()
    with database.read(engine) as conn:
        waiting = conn.execute(sa.select(deliveries.c.learner_id, deliveries.c.last_error)
                               .where(deliveries.c.status == "unresolved")).all()
    assert waiting and all("learners merge" in error for _, error in waiting)
    assert len({learner for learner, _ in waiting}) == 1


def test_the_documented_moodle_table_is_accepted(tmp_path):
    text = (Path(__file__).resolve().parents[2] / "docs" / "lms-moodle.md").read_text()
    example = text.split("```toml", 1)[1].split("```", 1)[0]
    table = tomllib.loads(example)
    (tmp_path / "moodle-token").write_text("0123456789abcdef")
    table["lms_targets"]["moodle"]["token_file"] = str(tmp_path / "moodle-token")
    from lrs_connector.lms.config import check_all

    check_all(table["lms_targets"])
