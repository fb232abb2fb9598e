"""Awards follow readiness through real processing; the public documents and the CLI."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import orjson
import sqlalchemy as sa
from PIL import Image

from lrs_connector import badges as core
from lrs_connector import demo
from lrs_connector.badges import baking
from lrs_connector.badges.cli import badges as badges_cli
from lrs_connector.learners import mbox_sha1
from lrs_connector.store import badges as store
from lrs_connector.store import database
from lrs_connector.store import learners as learner_store
from lrs_connector.store.badge_tables import badge_assertions
from lrs_connector.store.readiness_tables import readiness_roles
from tests.badges.conftest import ISSUER_EMAIL, demo_statements, process
from tests.builders import statement, voiding

TM = "https://lrs-connector.dev/frameworks/lnd-leadership/roles/training-manager"
DIR = "https://lrs-connector.dev/frameworks/lnd-leadership/roles/director"
BASE = "http://127.0.0.1:8080"


def _post(client, headers, statements) -> None:
    response = client.post("/xapi/statements", json=statements, headers=headers)
    assert response.status_code == 200, response.get_json()


def _valid(engine, learner: int | None = None) -> dict[tuple[int, str, str], str]:
    """(learner, role, level) → assertion id of every valid assertion."""
    with database.read(engine) as conn:
        rows = store.assertions(conn, learner_id=learner, limit=100_000)
    return {(r["learner_id"], r["role"], r["level"]): r["id"] for r in rows}


def _levels(engine) -> dict[tuple[int, str], str]:
    with database.read(engine) as conn:
        rows = conn.execute(sa.select(readiness_roles)).all()
    return {(r.learner_id, r.role): r.level for r in rows}


def _learner_of(engine, email: str) -> int:
    with database.read(engine) as conn:
        return learner_store.lookup(conn, [f"mbox:{email}"])[f"mbox:{email}"]


def _path(url: str) -> str:
    assert url.startswith(BASE + "/badges/"), url
    return url[len(BASE):]


def test_processing_awards_exactly_what_each_level_earns(badge_app, client, source_headers,
                                                         engine):
    _post(client, source_headers, demo_statements())
    process(engine)
    cfg = store.config()
    expected = {
        (learner, role, level)
        for (learner, role), current in _levels(engine).items()
        for level in core.entitlement(cfg, current)
    }
    held = _valid(engine)
    assert set(held) == expected
    assert {level for _, _, level in expected} == {"developing", "ready"}
    assert len(set(held.values())) == len(held)
    assert all(core.ASSERTION_ID.match(i) for i in held.values())
    # processing the same statements again changes nothing
    _post(client, source_headers, demo_statements())
    process(engine)
    assert _valid(engine) == held


def test_a_refresh_years_later_revokes_what_faded(badge_app, client, source_headers, engine):
    """No new statement for three years: the refresh lowers levels, and the badges follow."""
    from lrs_connector.store import readiness as readiness_store

    _post(client, source_headers, demo_statements())
    process(engine)
    held = _valid(engine)
    assert held
    readiness_store.refresh(engine, now=datetime.now(UTC) + timedelta(days=3 * 365))
    cfg = store.config()
    expected = {
        (learner, role, level)
        for (learner, role), current in _levels(engine).items()
        for level in core.entitlement(cfg, current)
    }
    assert set(_valid(engine)) == expected and expected < set(held)


def test_badges_rise_and_fall_with_readiness(badge_app, client, source_headers, engine):
    amara = demo_statements({"amara"})
    email = demo.LEARNERS["amara"][1]
    _post(client, source_headers, amara[:4])
    process(engine)
    learner = _learner_of(engine, email)
    assert _levels(engine)[(learner, TM)] == "developing"
    first = _valid(engine, learner)
    developing = first[(learner, TM, "developing")]
    assert set(first) == {(learner, TM, "developing")}

    _post(client, source_headers, amara[4:6])  # up to "ready" for the training manager role
    process(engine)
    assert _levels(engine)[(learner, TM)] == "ready"
    second = _valid(engine, learner)
    assert second[(learner, TM, "developing")] == developing  # the lower badge stays valid
    ready = second[(learner, TM, "ready")]
    with database.read(engine) as conn:
        current = store.current_badge(conn, learner, TM)
        assert store.current_badge(conn, learner, "https://example.org/no-such-role") is None
    assert current.assertion_id == ready and current.level == "ready"
    assert current.assertion_url == f"{BASE}/badges/assertions/{ready}"
    assert current.image_url == f"{BASE}/badges/assertions/{ready}/image.png"

    # void the two statements that lifted the learner: back to "developing"
    _post(client, source_headers, [voiding(s["id"]) for s in amara[4:6]])
    process(engine)
    assert _levels(engine)[(learner, TM)] == "developing"
    assert _valid(engine, learner) == {(learner, TM, "developing"): developing}
    gone = client.get(f"/badges/assertions/{ready}")
    assert gone.status_code == 410 and gone.mimetype == "application/ld+json"
    assert gone.get_json() == {
        "@context": "https://w3id.org/openbadges/v2", "type": "Assertion",
        "id": f"{BASE}/badges/assertions/{ready}", "revoked": True,
        "revocationReason": core.REASON_READINESS,
    }
    assert client.get(f"/badges/assertions/{ready}/image.png").status_code == 410
    listed = client.get("/badges/issuer/revocations").get_json()["revokedAssertions"]
    # the director and CLO roles had reached "developing" with the same two statements
    assert len(listed) == 3 and {"id": f"{BASE}/badges/assertions/{ready}",
                                 "revocationReason": core.REASON_READINESS} in listed
    assert {entry["revocationReason"] for entry in listed} == {core.REASON_READINESS}
    with database.read(engine) as conn:
        current = store.current_badge(conn, learner, TM)
    assert current.assertion_id == developing

    # one more down: below every badge level
    _post(client, source_headers, [voiding(amara[3]["id"])])
    process(engine)
    assert _levels(engine)[(learner, TM)] == "emerging"
    assert _valid(engine, learner) == {}
    assert client.get(f"/badges/assertions/{developing}").get_json()["revoked"] is True
    # reaching the level again is a new award, not the old one brought back
    _post(client, source_headers, amara[6:7])
    process(engine)
    again = _valid(engine, learner)
    assert (learner, TM, "developing") in again
    assert again[(learner, TM, "developing")] not in (developing, ready)


def _crawl(client, url: str, seen: dict[str, tuple[int, str, bytes]]) -> None:
    """Fetch ``url`` and every badge URL reachable from it (ids resolve on our server)."""
    if url in seen:
        return
    response = client.get(_path(url))
    seen[url] = (response.status_code, response.mimetype, response.get_data())
    if response.mimetype != "application/ld+json":
        return
    document = response.get_json()
    assert document.get("id") == url
    for value in _urls(document):
        if value.startswith(BASE + "/badges/"):
            _crawl(client, value, seen)


def _urls(value) -> list[str]:
    if isinstance(value, str):
        return [value] if value.startswith("http") else []
    if isinstance(value, dict):
        return [u for v in value.values() for u in _urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in _urls(v)]
    return []


def test_documents_resolve_and_carry_no_personal_data(badge_app, client, source_headers,
                                                      engine):
    _post(client, source_headers, demo_statements())
    process(engine)
    held = _valid(engine)
    seen: dict[str, tuple[int, str, bytes]] = {}
    for assertion_id in held.values():
        _crawl(client, f"{BASE}/badges/assertions/{assertion_id}", seen)
        _crawl(client, f"{BASE}/badges/assertions/{assertion_id}/image.svg", seen)
    _crawl(client, f"{BASE}/badges/issuer/revocations", seen)
    assert all(status == 200 for status, _, _ in seen.values()), {
        u: s for u, (s, _, _) in seen.items() if s != 200
    }
    kinds = {url.rsplit("/", 1)[-1] if "image." in url else url.split("/badges/")[1].split("/")[0]
             for url in seen}
    assert {"issuer", "classes", "assertions", "image.png", "image.svg"} <= kinds
    types = {orjson.loads(body)["type"] for _, mime, body in seen.values()
             if mime == "application/ld+json"}
    assert types == {"Issuer", "BadgeClass", "Assertion", "RevocationList"}

    # nothing public names a learner: no address, name, account, hash of the address, id
    private: list[str] = []
    for key, (name, email) in demo.LEARNERS.items():
        private += [email, name, name.split()[0], f"|{key}", mbox_sha1(email)]
    learner_ids = {learner for learner, _, _ in held}
    public_text = []
    for url, (_, mime, body) in seen.items():
        assert re.fullmatch(r"[a-z0-9./:-]+", url), url  # UUIDs and slugs only
        if mime == "image/png":
            public_text.append(baking.unbake_png(body) or "")
        else:
            public_text.append(body.decode())
    text = "\n".join(public_text)
    for value in private:
        assert value not in text, value
    assert "learner" not in text.lower()
    for url in seen:
        assert not any(part.isdigit() and int(part) in learner_ids
                       for part in url.split("/")), url


def test_images_are_baked_with_the_served_assertion(badge_app, client, source_headers, engine):
    _post(client, source_headers, demo_statements({"amara"}))
    process(engine)
    assertion_id = next(iter(_valid(engine).values()))
    served = client.get(f"/badges/assertions/{assertion_id}")
    assert served.status_code == 200 and served.mimetype == "application/ld+json"
    assert served.headers["Access-Control-Allow-Origin"] == "*"
    assert "max-age" in served.headers["Cache-Control"]
    again = client.get(f"/badges/assertions/{assertion_id}",
                       headers={"If-None-Match": served.headers["ETag"]})
    assert again.status_code == 304
    png = client.get(f"/badges/assertions/{assertion_id}/image.png")
    assert png.mimetype == "image/png"
    assert orjson.loads(baking.unbake_png(png.get_data())) == served.get_json()
    assert Image.open(io.BytesIO(png.get_data())).size == (512, 512)
    svg = client.get(f"/badges/assertions/{assertion_id}/image.svg")
    assert svg.mimetype == "image/svg+xml"
    assert "default-src 'none'" in svg.headers["Content-Security-Policy"]
    verify, content = baking.unbake_svg(svg.get_data(as_text=True))
    assert verify == served.get_json()["id"] and orjson.loads(content) == served.get_json()
    issued = served.get_json()["issuedOn"][:10]
    assert f">{issued}</text>" in svg.get_data(as_text=True)
    assert 'role="img"' in svg.get_data(as_text=True)
    class_url = served.get_json()["badge"]
    class_svg = client.get(_path(class_url) + "/image.svg").get_data(as_text=True)
    assert "<title" in class_svg and issued not in class_svg
    for bad in ("/badges/assertions/not-a-uuid", f"/badges/assertions/{assertion_id}/image.gif",
                "/badges/classes/..%2Fissuer", "/badges/classes/NOPE",
                f"/badges/assertions/{assertion_id[:-1]}{'1' if assertion_id[-1] == '0' else '0'}"):
        answer = client.get(bad)
        assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "not-found"


def test_learners_without_an_email_wait_until_one_is_known(
    badge_app, client, source_headers, engine, badge_env
):
    _post(client, source_headers, demo_statements({"amara"}, email=False))
    process(engine)
    assert _valid(engine) == {}
    listed = badge_env.invoke(badges_cli, ["list", "--pending", "--json"])
    assert listed.exit_code == 0, listed.output
    waiting = orjson.loads(listed.output)
    assert {(w["role"], w["level"]) for w in waiting} >= {(TM, "ready"), (DIR, "ready")}
    account_learner = waiting[0]["learner_id"]
    # the same person, now seen by email address, is merged into the account's learner
    email = demo.LEARNERS["amara"][1]
    _post(client, source_headers, [statement(actor={"mbox": f"mailto:{email}"})])
    process(engine)
    by_email = _learner_of(engine, email)
    assert by_email != account_learner
    with database.write(engine) as conn:  # the merge itself awards what is now earned
        learner_store.merge(conn, account_learner, by_email, datetime.now(UTC))
    held = _valid(engine)
    assert {(learner, role) for learner, role, _ in held} >= {(account_learner, TM)}
    with database.read(engine) as conn:  # the LMS hears of the new badge though no score moved
        told = conn.execute(sa.text(
            "SELECT role FROM outbox WHERE learner_id = :l AND status = 'pending'"
        ), {"l": account_learner}).scalars().all()
    assert {role for learner, role, _ in held if learner == account_learner} <= set(told)
    synced = badge_env.invoke(badges_cli, ["sync"])
    assert synced.exit_code == 0, synced.output
    assert re.search(r"synced \d+ learners: 0 awarded, 0 revoked", synced.output), synced.output
    assert badge_env.invoke(badges_cli, ["list", "--pending", "--json"]).output.strip() == "[]"
    # the hash is the email's, salted per assertion
    with database.read(engine) as conn:
        rows = conn.execute(sa.select(badge_assertions)).all()
    assert len({r.salt for r in rows}) == len(rows)
    assert all(r.recipient == core.hash_email(email, r.salt) for r in rows)


def test_cli_sync_list_and_revoke(badge_app, client, source_headers, engine, badge_env):
    _post(client, source_headers, demo_statements())
    process(engine)
    held = _valid(engine)
    with database.write(engine) as conn:
        conn.execute(badge_assertions.delete())
    synced = badge_env.invoke(badges_cli, ["sync", "--chunk", "2"])
    assert synced.exit_code == 0, synced.output
    assert f"{len(held)} awarded, 0 revoked" in synced.output
    assert set(_valid(engine)) == set(held)

    learner, role, level = sorted(held)[0]
    mine = badge_env.invoke(badges_cli, ["list", "--learner", str(learner), "--json"])
    assert {(r["role"], r["level"]) for r in orjson.loads(mine.output)} == {
        (r, lv) for ln, r, lv in held if ln == learner
    }
    text = badge_env.invoke(badges_cli, ["list"])
    assert text.exit_code == 0 and f"{BASE}/badges/assertions/" in text.output

    target = _valid(engine)[(learner, role, level)]
    revoked = badge_env.invoke(
        badges_cli, ["revoke", f"{BASE}/badges/assertions/{target}", "--reason", "Issued in error"]
    )
    assert revoked.exit_code == 0, revoked.output
    assert badge_env.invoke(badges_cli, ["sync"]).exit_code == 0
    assert (learner, role, level) not in _valid(engine)  # an admin's revocation sticks
    listed = client.get("/badges/issuer/revocations").get_json()["revokedAssertions"]
    assert {"id": f"{BASE}/badges/assertions/{target}",
            "revocationReason": "Issued in error"} in listed
    everything = badge_env.invoke(badges_cli, ["list", "--all"])
    assert "revoked" in everything.output and "by admin: Issued in error" in everything.output
    assert badge_env.invoke(badges_cli, ["revoke", target, "--reason", "x"]).exit_code == 1
    assert badge_env.invoke(badges_cli, ["revoke", "nope", "--reason", "x"]).exit_code == 2
    assert badge_env.invoke(badges_cli, ["revoke", target, "--reason", "  "]).exit_code == 2


def test_without_an_issuer_address_nothing_is_issued_or_served(
    badge_app, client, source_headers, engine, settings, monkeypatch
):
    from lrs_connector.app import create_app
    from lrs_connector.settings import load_settings

    off = load_settings(environ={}, overrides={
        "database_url": settings.database_url, "data_dir": settings.data_dir,
        "readiness_levels": list(settings.readiness_levels), "log_format": "text",
    })
    store.configure(core.config_from_settings(off))
    _post(client, source_headers, demo_statements())
    process(engine)
    assert _valid(engine) == {}
    app = create_app(off)
    answer = app.test_client().get("/badges/issuer")
    assert answer.status_code == 404 and "issuer contact" in answer.get_json()["error"]["message"]
    app.extensions["lrs_engine"].dispose()


def test_a_wrong_badge_level_is_named_and_does_not_stop_processing(
    badge_app, client, source_headers, engine, monkeypatch, caplog
):
    monkeypatch.setenv("LRS_CONNECTOR_BADGES_LEVELS", "expert")
    monkeypatch.setenv("LRS_CONNECTOR_BADGES_ISSUER_EMAIL", ISSUER_EMAIL)
    store.configure(None)  # as when the app has not configured the store: the environment's
    store._environment_config.cache_clear()
    try:
        _post(client, source_headers, demo_statements({"amara"}))
        process(engine)
    finally:
        store._environment_config.cache_clear()
    assert _levels(engine)  # readiness was still scored, the queue drained
    with database.read(engine) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(badge_assertions)).scalar() == 0
    assert "badges are not synced: badges_levels: 'expert' is not a readiness level" in caplog.text


def test_sync_is_set_based_over_many_learners(engine):
    """900 learners: three queries per 400 learners to read, a few writes, whatever the
    number of learners or badges."""
    now = datetime.now(UTC)
    count = 900
    with database.write(engine) as conn:
        conn.execute(sa.text(
            "INSERT INTO learners (id, name, created_at) VALUES (:id, NULL, :at)"
        ), [{"id": i, "at": now.replace(tzinfo=None)} for i in range(1, count + 1)])
        conn.execute(readiness_roles.insert(), [
            {"learner_id": i, "role": TM, "score": 25.0, "level": "ready", "computed_at": now}
            for i in range(1, count + 1)
        ])
        conn.execute(sa.text(
            "INSERT INTO learner_aliases (alias, learner_id, kind, created_at) "
            "VALUES (:alias, :id, 'mbox', :at)"
        ), [{"alias": f"mbox:l{i}@example.org", "id": i, "at": now.replace(tzinfo=None)}
            for i in range(1, count + 1) if i % 3])  # every third learner has no address
    statements: list[str] = []

    def count_statement(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count_statement)
    try:
        with database.write(engine) as conn:
            outcome = store.sync(conn, list(range(1, count + 1)), now)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count_statement)
    with_email = len([i for i in range(1, count + 1) if i % 3])
    assert outcome.awarded == 2 * with_email and outcome.pending == 2 * (count - with_email)
    # per chunk: 3 reads, up to 3 writes, 2 for the outbox entries telling LMSs; then classes,
    # and once the framework in force
    assert len(statements) <= 3 * 3 + 3 * 3 + 3 * 2 + 4 + 1, statements
    held = _valid(engine)
    assert len(held) == 2 * with_email
    assert {level for _, _, level in held} == {"developing", "ready"}
    with database.write(engine) as conn:
        assert store.sync(conn, list(range(1, count + 1)), now).awarded == 0


def test_awards_and_revocations_tell_the_lms_without_a_score_change(badge_app, engine):
    now = datetime.now(UTC)
    with database.write(engine) as conn:
        conn.execute(sa.text("INSERT INTO learners (id, name, created_at) VALUES (1, NULL, :at)"),
                     {"at": now.replace(tzinfo=None)})
        conn.execute(readiness_roles.insert(), {"learner_id": 1, "role": TM, "score": 30.0,
                                                "level": "ready", "computed_at": now})
        assert store.sync(conn, [1], now).pending == 2  # no address yet: nothing to tell
        conn.execute(sa.text("INSERT INTO learner_aliases (alias, learner_id, kind, created_at) "
                             "VALUES ('mbox:ann@example.org', 1, 'mbox', :at)"),
                     {"at": now.replace(tzinfo=None)})
        assert store.sync(conn, [1], now).awarded == 2
        conn.execute(readiness_roles.update().values(level="not ready", score=1.0))
        assert store.sync(conn, [1], now).revoked == 2
        told = conn.execute(sa.text("SELECT payload FROM outbox ORDER BY id")).scalars().all()
    assert [(orjson.loads(p)["role"], orjson.loads(p)["level"]) for p in told] == [
        (TM, "ready"), (TM, "not ready")]
