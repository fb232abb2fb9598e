"""The admin console over HTTP (Flask's test client): every page and action, who may use it
(auditors read, only admins change: 403), CSRF refusals and the messages bad input gets.

The app has one webhook target, `hr`, posting to a real receiver on 127.0.0.1 (as in
tests/delivery), and one, `down`, pointing at a port nobody listens on (the `webhook_targets`
mark of tests/ui/conftest.py).
"""

from __future__ import annotations

import html
import logging
import re
from datetime import UTC, datetime

import orjson
import pytest
import sqlalchemy as sa

from lrs_connector.learners import alias_kind
from lrs_connector.store import console_admin, database, outbox
from lrs_connector.store.holders import SOURCES
from lrs_connector.store.learner_tables import learner_aliases, learners
from lrs_connector.store.lms_tables import deliveries, lms_users
from tests.ui.conftest import ADMIN_PASSWORD, HOOK_SECRET, csrf_from, sign_in

pytestmark = pytest.mark.webhook_targets  # `hr` and `down`, as tests/ui/conftest.py sets them
ROLE = "https://example.org/roles/director"


def add_learner(conn, name: str, aliases: list[str]) -> int:
    now = datetime.now(UTC)
    learner_id = conn.execute(
        learners.insert().values(name=name, created_at=now).returning(learners.c.id)
    ).scalar_one()
    conn.execute(learner_aliases.insert(), [
        {"alias": a, "learner_id": learner_id, "kind": alias_kind(a), "created_at": now}
        for a in aliases
    ])
    return learner_id


def add_delivery(conn, target: str, learner_id: int, status: str, error: str | None = None,
                 role: str = ROLE) -> int:
    """A delivery as the dispatcher leaves it (`dead` after a refusal, `unresolved`…)."""
    payload = orjson.dumps({"learner_id": learner_id, "role": role, "score": 61.5,
                            "level": "proficient"}).decode()
    now = datetime.now(UTC)
    outbox.upsert(conn, [{"target": target, "learner_id": learner_id, "role": role,
                          "outbox_id": 1, "payload": payload, "now": now}])
    conn.execute(deliveries.update()
                 .where(deliveries.c.target == target, deliveries.c.learner_id == learner_id,
                        deliveries.c.role == role)
                 .values(status=status, attempts=1, last_error=error))
    return conn.execute(sa.select(deliveries.c.id).where(
        deliveries.c.target == target, deliveries.c.learner_id == learner_id,
        deliveries.c.role == role)).scalar_one()


def post(client, path: str, data: dict, page: str = "/console/admin/"):
    """A form POST with the CSRF token of a page the client just loaded."""
    token = csrf_from(client.get(page).text)
    return client.post(path, data={"csrf_token": token, **data})


def text_of(html: str) -> str:
    """The page's text without tags, white space collapsed (for reading messages)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# --- access ------------------------------------------------------------------------------------


def test_every_admin_view_declares_who_may_call_it(app):
    views = {n: v for n, v in app.view_functions.items() if n.startswith("admin_console.")}
    assert len(views) >= 14
    for name, view in views.items():
        assert getattr(view, "access", "").startswith("signed-in "), name
        assert "Callers: signed-in" in view.__doc__, name
    changes = [n for n, rule in ((r.endpoint, r) for r in app.url_map.iter_rules())
               if n.startswith("admin_console.") and "POST" in rule.methods]
    assert changes and all(views[n].access == "signed-in admin" for n in changes)


def test_signed_out_visitors_are_sent_to_sign_in(client):
    answer = client.get("/console/admin/outbox?status=dead")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/login?next=/console/admin/outbox")


def test_auditors_read_every_list_but_see_no_actions(as_auditor, engine):
    with database.write(engine) as conn:
        SOURCES.add(conn, "ll", description="Learning Locker")
        learner = add_learner(conn, "Ada", ["mbox:ada@example.org"])
        add_delivery(conn, "hr", learner, "dead", "the receiver refused the change (400)")
    for path in ("/console/admin/", "/console/admin/sources", "/console/admin/targets",
                 "/console/admin/outbox", "/console/admin/unresolved"):
        answer = as_auditor.get(path)
        assert answer.status_code == 200, path
        assert "Content-Security-Policy" in answer.headers
        assert "<form method=\"post\" action=\"/console/admin" not in answer.text, path
    assert "ll" in as_auditor.get("/console/admin/sources").text
    assert "refused the change (400)" in as_auditor.get("/console/admin/outbox").text
    assert as_auditor.get("/console/admin/merge").status_code == 403


@pytest.mark.parametrize("path, data", [
    ("/console/admin/sources", {"name": "sneaky"}),
    ("/console/admin/sources/rotate", {"name": "ll"}),
    ("/console/admin/sources/enabled", {"name": "ll", "enabled": "no"}),
    ("/console/admin/targets/check", {"target": "hr"}),
    ("/console/admin/outbox/retry", {"dead_of": "hr"}),
    ("/console/admin/outbox/discard", {"id": "1"}),
    ("/console/admin/unresolved/link", {"target": "hr", "learner_id": "1", "user_id": "u"}),
    ("/console/admin/merge", {"keep": "1", "away": "2"}),
])
def test_auditors_cannot_change_anything(as_auditor, engine, path, data):
    with database.write(engine) as conn:
        SOURCES.add(conn, "ll")
        one = add_learner(conn, "One", ["mbox:one@example.org"])
        add_learner(conn, "Two", ["mbox:two@example.org"])
        dead = add_delivery(conn, "hr", one, "dead", "refused")
    answer = post(as_auditor, path, data)
    assert answer.status_code == 403
    assert "This page needs the admin role; your account is auditor." in answer.text
    with database.read(engine) as conn:
        assert [s.name for s in SOURCES.list(conn)] == ["ll"]
        assert SOURCES.get(conn, "ll").enabled and SOURCES.get(conn, "ll").rotated_at is None
        assert outbox.get(conn, dead)["status"] == "dead"
        assert conn.execute(sa.select(sa.func.count()).select_from(lms_users)).scalar() == 0
        assert conn.execute(sa.select(learners.c.merged_into)).scalars().all() == [None, None]
        assert console_admin.last_checks(conn) == {}


def test_a_post_without_the_csrf_token_or_from_another_site_is_refused(as_admin, engine):
    bare = as_admin.post("/console/admin/sources", data={"name": "ll"})
    assert bare.status_code == 400 and "The form could not be accepted" in bare.text
    token = csrf_from(as_admin.get("/console/admin/sources").text)
    forged = as_admin.post("/console/admin/sources", data={"name": "ll", "csrf_token": token},
                           headers={"Origin": "https://evil.example"})
    assert forged.status_code == 400
    wrong = as_admin.post("/console/admin/sources", data={"name": "ll", "csrf_token": "x" * 43})
    assert wrong.status_code == 400
    with database.read(engine) as conn:
        assert SOURCES.list(conn) == []


# --- sources -----------------------------------------------------------------------------------


def test_creating_a_source_shows_its_secret_once(as_admin, engine, caplog):
    caplog.set_level(logging.DEBUG)
    answer = post(as_admin, "/console/admin/sources",
                  {"name": " learning-locker ", "description": "LL production"})
    assert answer.status_code == 200
    secret = re.search(r'id="source-secret">([^<]+)<', answer.text).group(1)
    key = re.search(r'id="source-key">([^<]+)<', answer.text).group(1)
    assert "shown only on this page" in answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    with database.read(engine) as conn:
        from lrs_connector import credentials

        stored = SOURCES.get(conn, "learning-locker")
        assert stored.key == key and stored.description == "LL production"
        assert SOURCES.authenticate(conn, credentials.Presented(key, secret, "basic")) is not None
    listing = as_admin.get("/console/admin/sources")
    assert "learning-locker" in listing.text and key in listing.text
    assert secret not in listing.text
    assert secret not in caplog.text and secret not in (answer.headers.get("Location") or "")
    assert secret not in as_admin.get("/console/admin/").text


@pytest.mark.parametrize("name, description, status, message", [
    ("", "", 400, "Enter the source name."),
    ("   ", "", 400, "Enter the source name."),
    ("x" * 101, "", 400, "The source name is too long: at most 100 characters."),
    ("tab\there", "", 400, "must not contain control characters"),
    ("ok", "d" * 1001, 400, "The description is too long: at most 1,000 characters."),
    ("taken", "", 409, "A source named 'taken' already exists; choose another name."),
])
def test_bad_source_names_get_a_clear_message(as_admin, engine, name, description, status,
                                              message):
    with database.write(engine) as conn:
        SOURCES.add(conn, "taken")
    answer = post(as_admin, "/console/admin/sources", {"name": name, "description": description})
    assert answer.status_code == status
    assert 'role="alert"' in answer.text and message in html.unescape(answer.text)
    with database.read(engine) as conn:
        assert [s.name for s in SOURCES.list(conn)] == ["taken"]


def test_rotating_asks_first_then_shows_the_new_secret_once(as_admin, engine):
    from lrs_connector import credentials

    with database.write(engine) as conn:
        _, old = SOURCES.add(conn, "ll")
    confirm = as_admin.get("/console/admin/sources/rotate?name=ll")
    assert confirm.status_code == 200 and "stops working at once" in confirm.text
    answer = post(as_admin, "/console/admin/sources/rotate", {"name": "ll"},
                  page="/console/admin/sources/rotate?name=ll")
    assert answer.status_code == 200
    secret = re.search(r'id="source-secret">([^<]+)<', answer.text).group(1)
    assert secret != old.secret and "The old secret has stopped working." in answer.text
    with database.read(engine) as conn:
        old_one = credentials.Presented(old.key, old.secret, "basic")
        assert SOURCES.authenticate(conn, old_one) is None
        new_one = credentials.Presented(old.key, secret, "basic")
        assert SOURCES.authenticate(conn, new_one) is not None
    assert as_admin.get("/console/admin/sources/rotate?name=nope").status_code == 404
    missing = post(as_admin, "/console/admin/sources/rotate", {"name": "nope"})
    assert missing.status_code == 404 and "There is no source named &#39;nope&#39;." in missing.text


def test_disabling_and_enabling_a_source(as_admin, engine, source_headers, client):
    disabled = post(as_admin, "/console/admin/sources/enabled", {"name": "lms", "enabled": "no"})
    assert disabled.status_code == 302 and disabled.headers["Location"] == "/console/admin/sources"
    page = as_admin.get("/console/admin/sources").text
    assert "Source lms is disabled." in page and 'role="status"' in page
    assert client.get("/xapi/about").status_code == 200
    refused = client.get("/xapi/statements", headers=source_headers)
    assert refused.status_code == 401
    post(as_admin, "/console/admin/sources/enabled", {"name": "lms", "enabled": "yes"})
    with database.read(engine) as conn:
        assert SOURCES.get(conn, "lms").enabled
    assert "Source lms is enabled." in as_admin.get("/console/admin/sources").text
    bad = post(as_admin, "/console/admin/sources/enabled", {"name": "lms", "enabled": "maybe"})
    assert bad.status_code == 400 and "Say whether to enable or disable" in bad.text


# --- targets -----------------------------------------------------------------------------------


def test_targets_show_kind_counts_last_delivery_and_a_stored_check(as_admin, engine, receiver):
    with database.write(engine) as conn:
        learner = add_learner(conn, "Ada", ["mbox:ada@example.org"])
        add_delivery(conn, "hr", learner, "dead", "refused")
        add_delivery(conn, "hr", learner, "pending", role=ROLE + "-2")
    page = text_of(as_admin.get("/console/admin/targets").text)
    assert "hr (webhook)" in page and "down (webhook)" in page
    assert "Last delivery: none yet" in page and "Not checked yet." in page
    checked = post(as_admin, "/console/admin/targets/check", {"target": "hr"})
    assert checked.status_code == 302
    assert checked.headers["Location"] == "/console/admin/targets#target-hr"
    assert [r.body for r in receiver.received] == [{"event": "ping"}]
    assert receiver.received[0].signed
    page = text_of(as_admin.get("/console/admin/targets").text)
    assert "Check of hr: everything is fine." in page
    assert "by adam: everything fine" in page and "accepted a signed ping (200)" in page
    with database.read(engine) as conn:
        stored = console_admin.last_checks(conn)["hr"]
    assert stored.ok and stored.checked_by == "adam"


def test_a_failing_check_says_what_to_fix_and_is_remembered(as_admin, app, engine):
    post(as_admin, "/console/admin/targets/check", {"target": "down"})
    page = text_of(as_admin.get("/console/admin/targets").text)
    assert "Check of down: 1 problem(s) to fix, listed below." in page
    assert "Problem: reachable" in page and "cannot reach http://127.0.0.1:" in page
    assert "To fix: check the URL and that the receiver runs" in page
    # another web process (a second app on the same database) shows the same result
    from lrs_connector.app import create_app

    other = create_app(app.extensions["lrs_settings"])
    try:
        second = other.test_client()
        assert sign_in(second, "adam", ADMIN_PASSWORD).status_code == 302
        assert "cannot reach http://127.0.0.1:" in second.get("/console/admin/targets").text
    finally:
        other.extensions["lrs_engine"].dispose()
    assert HOOK_SECRET not in page


def test_checking_an_unknown_target_is_a_clear_404(as_admin):
    answer = post(as_admin, "/console/admin/targets/check", {"target": "moodle"})
    assert answer.status_code == 404
    assert "There is no configured LMS target named &#39;moodle&#39;." in answer.text


# --- outbox ------------------------------------------------------------------------------------


@pytest.fixture
def dead_letters(engine) -> list[int]:
    with database.write(engine) as conn:
        ids = []
        for n in range(3):
            learner = add_learner(conn, f"L{n}", [f"mbox:l{n}@example.org"])
            ids.append(add_delivery(conn, "hr", learner, "dead",
                                    "the receiver refused the change (400): {}"))
        other = add_learner(conn, "Other", ["mbox:other@example.org"])
        ids.append(add_delivery(conn, "down", other, "dead", "cannot reach"))
        ids.append(add_delivery(conn, "hr", other, "delivering"))
    return ids


def test_outbox_filters_by_status_and_target_with_keyset_pages(as_auditor, engine,
                                                               dead_letters, monkeypatch):
    from lrs_connector.web.ui import admin_console

    monkeypatch.setattr(admin_console, "PAGE_SIZE", 2)
    first = as_auditor.get("/console/admin/outbox?status=dead&target=hr")
    rows = re.findall(r'<tr id="delivery-(\d+)">', first.text)
    assert rows == [str(dead_letters[2]), str(dead_letters[1])]
    older = re.search(r'href="([^"]*before=\d+[^"]*)">Older', first.text).group(1)
    second = as_auditor.get(older.replace("&amp;", "&"))
    assert re.findall(r'<tr id="delivery-(\d+)">', second.text) == [str(dead_letters[0])]
    assert "Older" not in second.text
    everything = as_auditor.get("/console/admin/outbox?target=down")
    assert re.findall(r'<tr id="delivery-(\d+)">', everything.text) == [str(dead_letters[3])]
    bad = as_auditor.get("/console/admin/outbox?status=lost")
    assert bad.status_code == 400 and "&#39;lost&#39; is not a delivery status" in bad.text
    bad = as_auditor.get("/console/admin/outbox?target=%3Cscript%3E")
    assert bad.status_code == 400 and "<script>" not in bad.text


def test_retry_one_dead_letter_and_all_dead_of_a_target(as_admin, engine, dead_letters):
    one = post(as_admin, "/console/admin/outbox/retry",
               {"id": str(dead_letters[0]), "status_filter": "dead", "target_filter": "hr"})
    assert one.status_code == 302
    assert one.headers["Location"] == "/console/admin/outbox?status=dead&target=hr"
    page = as_admin.get(one.headers["Location"]).text
    assert f"Delivery {dead_letters[0]} is queued again." in page
    with database.read(engine) as conn:
        retried = outbox.get(conn, dead_letters[0])
        assert retried["status"] == "pending" and retried["attempts"] == 0
        assert retried["last_error"] is None
        assert outbox.get(conn, dead_letters[1])["status"] == "dead"
    every = post(as_admin, "/console/admin/outbox/retry", {"dead_of": "hr"})
    assert "2 dead deliveries for hr queued again." in as_admin.get(every.headers["Location"]).text
    with database.read(engine) as conn:
        assert [outbox.get(conn, i)["status"] for i in dead_letters] == [
            "pending", "pending", "pending", "dead", "delivering"]
    none = post(as_admin, "/console/admin/outbox/retry", {"dead_of": "hr"})
    assert "There were no dead deliveries for hr to retry." in as_admin.get(
        none.headers["Location"]).text
    busy = post(as_admin, "/console/admin/outbox/retry", {"id": str(dead_letters[4])})
    assert f"Delivery {dead_letters[4]} is delivering: only dead" in as_admin.get(
        busy.headers["Location"]).text


def test_discard_a_dead_letter(as_admin, engine, dead_letters):
    done = post(as_admin, "/console/admin/outbox/discard", {"id": str(dead_letters[3])})
    assert done.status_code == 302
    assert f"Delivery {dead_letters[3]} is discarded" in as_admin.get("/console/admin/outbox").text
    busy = post(as_admin, "/console/admin/outbox/discard", {"id": str(dead_letters[4])})
    assert "is being delivered right now" in as_admin.get(busy.headers["Location"]).text
    with database.read(engine) as conn:
        assert outbox.get(conn, dead_letters[3])["status"] == "discarded"
        assert outbox.get(conn, dead_letters[4])["status"] == "delivering"


@pytest.mark.parametrize("data, status, message", [
    ({"id": ""}, 400, "The field id must be a positive whole number"),
    ({"id": "-3"}, 400, "The field id must be a positive whole number"),
    ({"id": "99999999999999999999999"}, 400, "The field id must be a positive whole number"),
    ({"id": "424242"}, 404, "There is no delivery 424242."),
    ({"dead_of": "bad name!"}, 400, "is not a target name"),
])
def test_bad_retry_input_gets_a_clear_message(as_admin, data, status, message):
    answer = post(as_admin, "/console/admin/outbox/retry", data)
    assert answer.status_code == status and message in answer.text


# --- unresolved learners -----------------------------------------------------------------------


@pytest.fixture
def unresolved_learner(engine) -> int:
    with database.write(engine) as conn:
        learner = add_learner(conn, "Grace", ["account:https://lms.example.org|grace",
                                              "mbox:grace@example.org"])
        add_delivery(conn, "hr", learner, "unresolved", "no user matches")
        add_delivery(conn, "hr", learner, "unresolved", "no user matches", role=ROLE + "-2")
    return learner


def test_unresolved_learners_are_listed_with_identifiers_and_linked(as_admin, engine,
                                                                    unresolved_learner):
    page = as_admin.get("/console/admin/unresolved?target=hr").text
    assert "account:https://lms.example.org|grace" in page and "mbox:grace@example.org" in page
    assert f"User id at hr for learner {unresolved_learner}" in page
    done = post(as_admin, "/console/admin/unresolved/link",
                {"target": "hr", "learner_id": str(unresolved_learner), "user_id": " 1234 "})
    assert done.status_code == 302 and done.headers["Location"] == "/console/admin/unresolved"
    page = as_admin.get("/console/admin/unresolved").text
    assert (f"Learner {unresolved_learner} is linked to user 1234 at hr; 2 waiting deliveries "
            "queued.") in page
    assert "No unresolved learners." in page
    with database.read(engine) as conn:
        cached = outbox.cached_user(conn, "hr", unresolved_learner)
        statuses = conn.execute(sa.select(deliveries.c.status)).scalars().all()
    assert cached.user_id == "1234" and cached.method == "manual"
    assert statuses == ["pending", "pending"]


@pytest.mark.parametrize("data, status, message", [
    ({"target": "moodle", "user_id": "7"}, 404,
     "There is no configured LMS target named &#39;moodle&#39;."),
    ({"learner_id": "abc", "user_id": "7"}, 400,
     "The learner must be given by its id (a positive whole number)."),
    ({"learner_id": "987654", "user_id": "7"}, 404, "There is no learner 987654."),
    ({"user_id": "   "}, 400, "Enter the LMS user id."),
    ({"user_id": "u" * 256}, 400, "The LMS user id is too long: at most 255 characters."),
    ({"user_id": "a\nb"}, 400, "must not contain control characters"),
])
def test_bad_link_input_gets_a_clear_message(as_admin, engine, unresolved_learner, data, status,
                                             message):
    form = {"target": "hr", "learner_id": str(unresolved_learner), **data}
    answer = post(as_admin, "/console/admin/unresolved/link", form)
    assert answer.status_code == status
    assert 'role="alert"' in answer.text and message in answer.text
    with database.read(engine) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(lms_users)).scalar() == 0


def test_a_user_already_linked_to_another_learner_is_refused(as_admin, engine,
                                                             unresolved_learner):
    with database.write(engine) as conn:
        other = add_learner(conn, "G. Hopper", ["mbox:g.hopper@example.org"])
        outbox.remember_user(conn, "hr", other, "1234", "account", datetime.now(UTC))
    answer = post(as_admin, "/console/admin/unresolved/link",
                  {"target": "hr", "learner_id": str(unresolved_learner), "user_id": "1234"})
    assert answer.status_code == 409
    assert f"User 1234 at hr is already linked to learner {other}." in answer.text
    assert "merge them instead" in answer.text


# --- learner merge -----------------------------------------------------------------------------


@pytest.fixture
def two_learners(engine) -> tuple[int, int]:
    with database.write(engine) as conn:
        keep = add_learner(conn, "Ada Lovelace", ["account:https://lms.example.org|ada"])
        away = add_learner(conn, "Ada", ["mbox:ada@example.org", "openid:https://ada.example"])
    return keep, away


def test_merge_previews_by_alias_then_merges(as_admin, engine, two_learners):
    keep, away = two_learners
    preview = as_admin.get("/console/admin/merge?keep=account:https://lms.example.org|ada"
                           "&away=mailto:ADA@example.org")
    assert preview.status_code == 200
    page = text_of(preview.text)
    assert f"Learner {away} into learner {keep}" in page
    assert "Aliases 1 2 move 3" in page
    assert "openid:https://ada.example" in page
    token = csrf_from(preview.text)
    done = as_admin.post("/console/admin/merge",
                         data={"csrf_token": token, "keep": str(keep), "away": str(away)})
    assert done.status_code == 302
    assert done.headers["Location"] == f"/console/admin/merge?merged={keep}"
    after = as_admin.get(done.headers["Location"]).text
    assert (f"Learner {away} is merged into learner {keep}: 2 aliases and 0 evidence rows "
            "moved.") in after
    assert f'href="/console/learners/{keep}"' in after
    with database.read(engine) as conn:
        merged = conn.execute(sa.select(learners.c.merged_into).where(learners.c.id == away))
        assert merged.scalar() == keep
    again = as_admin.get(f"/console/admin/merge?keep={keep}&away={away}")
    assert again.status_code == 409
    assert f"Learner {away} was already merged into learner {keep}." in again.text


@pytest.mark.parametrize("query, status, message", [
    ("keep=1&away=", 400, "Enter the learner to merge into it"),
    ("keep=nonsense&away=1", 400, "is not an alias; expected one of"),
    ("keep=mbox:nobody@example.org&away=1", 404,
     "No learner has the alias mbox:nobody@example.org."),
    ("keep=999999&away=1", 404, "There is no learner 999999."),
    ("keep=99999999999999999999999&away=1", 404, "There is no learner"),
    ("keep=KEEP&away=KEEP", 400, "a learner cannot be merged into itself"),
    ("keep=" + "x" * 700 + "&away=1", 400, "is too long"),
])
def test_bad_merge_input_gets_a_clear_message(as_admin, two_learners, query, status, message):
    answer = as_admin.get("/console/admin/merge?" + query.replace("KEEP", str(two_learners[0])))
    assert answer.status_code == status
    assert 'role="alert"' in answer.text and message in answer.text


def test_a_merge_posted_twice_is_refused_the_second_time(as_admin, engine, two_learners):
    keep, away = two_learners
    first = post(as_admin, "/console/admin/merge", {"keep": str(keep), "away": str(away)})
    assert first.status_code == 302
    second = post(as_admin, "/console/admin/merge", {"keep": str(keep), "away": str(away)})
    assert second.status_code == 409
    assert f"learner {away} was merged into learner {keep}" in second.text
    bad = post(as_admin, "/console/admin/merge", {"keep": "x", "away": str(away)})
    assert bad.status_code == 400 and "The field keep must be a positive whole number" in bad.text
