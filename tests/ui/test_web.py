"""The UI over HTTP (Flask's test client): sign-in, throttling, CSRF, headers, the learner
page through signed links, the console's access rules, and the CLI."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from lrs_connector.accounts import throttle
from lrs_connector.app import create_app
from tests.ui.conftest import (
    ADMIN_PASSWORD,
    AUDITOR_PASSWORD,
    csrf_from,
    sign_in,
)


def test_every_ui_view_declares_who_may_call_it(app):
    ui_views = {name: view for name, view in app.view_functions.items()
                if name.split(".")[0] in {"auth", "learner_page", "console", "admin_console",
                                           "audit"}}
    assert len(ui_views) >= 7
    for name, view in ui_views.items():
        assert getattr(view, "access", None), name


def test_sign_in_with_the_right_password_opens_the_console(client, auditor):
    answer = sign_in(client, "Audra", AUDITOR_PASSWORD)
    assert answer.status_code == 302 and answer.headers["Location"] == "/console/"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    home = client.get("/console/")
    assert home.status_code == 200
    assert "Signed in as <strong>audra</strong>, role <strong>auditor</strong>" in home.text
    assert "Administration" in home.text and "learner merges" not in home.text  # read-only


def test_a_tampered_session_cookie_is_ignored_and_requests_without_one_set_none(
    client, auditor, source_headers
):
    sign_in(client, "audra", AUDITOR_PASSWORD)
    assert client.get("/console/").status_code == 200
    client.set_cookie("lrs_session", "forged.cookie.value")
    assert client.get("/console/").status_code == 302  # a bad signature is no session
    client.delete_cookie("lrs_session")
    about = client.get("/xapi/about", headers=source_headers)
    assert about.status_code == 200 and "Set-Cookie" not in about.headers


def test_wrong_password_and_unknown_user_get_the_same_refusal(client, auditor):
    wrong = sign_in(client, "audra", "not the password at all")
    unknown = sign_in(client, "nobody", AUDITOR_PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert "The username or password is not right." in wrong.text
    assert "The username or password is not right." in unknown.text
    assert client.get("/console/").status_code == 302


def test_repeated_failures_lock_the_account_even_for_the_right_password(client, auditor):
    for _ in range(throttle.ACCOUNT_POLICY.threshold - 1):
        assert sign_in(client, "audra", "guessing wrongly").status_code == 401
    locking = sign_in(client, "audra", "guessing wrongly")
    assert locking.status_code == 429 and "try again in 1 minute" in locking.text
    refused = sign_in(client, "audra", AUDITOR_PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed sign-ins. Try again in 1 minute." in refused.text
    assert client.get("/console/").status_code == 302


def test_many_accounts_tried_from_one_address_lock_the_address(client, auditor):
    for n in range(throttle.ADDRESS_POLICY.threshold):
        sign_in(client, f"someone{n}", "guessing wrongly")
    assert sign_in(client, "audra", AUDITOR_PASSWORD).status_code == 429


def test_a_disabled_account_cannot_sign_in_and_its_session_ends(client, engine, auditor):
    from lrs_connector.store import accounts, database

    assert sign_in(client, "audra", AUDITOR_PASSWORD).status_code == 302
    with database.write(engine) as conn:
        accounts.set_enabled(conn, "audra", False)
    assert client.get("/console/").status_code == 302
    assert sign_in(client, "audra", AUDITOR_PASSWORD).status_code == 401


def test_posts_without_the_csrf_token_or_from_another_site_are_refused(client, auditor):
    client.get("/login")
    bare = client.post("/login", data={"username": "audra", "password": AUDITOR_PASSWORD})
    assert bare.status_code == 400 and "The form could not be accepted" in bare.text
    assert bare.headers["Content-Type"].startswith("text/html")
    token = csrf_from(client.get("/login").text)
    foreign = client.post("/login", headers={"Origin": "https://evil.example"},
                          data={"username": "audra", "password": AUDITOR_PASSWORD,
                                "csrf_token": token})
    assert foreign.status_code == 400
    assert client.get("/console/").status_code == 302
    assert sign_in(client, "audra", AUDITOR_PASSWORD).status_code == 302
    assert client.post("/logout").status_code == 400  # signing out needs the token too
    assert client.get("/console/").status_code == 200


def test_sign_out_ends_the_session_even_for_a_copied_cookie(app, client, auditor):
    sign_in(client, "audra", AUDITOR_PASSWORD)
    cookie = client.get_cookie("lrs_session").value
    token = csrf_from(client.get("/console/").text)
    out = client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 302 and "signed_out=1" in out.headers["Location"]
    replay = app.test_client()
    replay.set_cookie("lrs_session", cookie)
    assert replay.get("/console/").status_code == 302


def test_console_pages_send_strangers_to_sign_in_and_back(client, auditor, demo_learner):
    answer = client.get(f"/console/learners/{demo_learner}")
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/login?next=/console/learners/{demo_learner}"
    page = client.get(answer.headers["Location"])
    back = client.post("/login", data={"username": "audra", "password": AUDITOR_PASSWORD,
                                       "csrf_token": csrf_from(page.text),
                                       "next": f"/console/learners/{demo_learner}"})
    assert back.headers["Location"] == f"/console/learners/{demo_learner}"


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_sign_in_never_redirects_off_site(client, auditor, target):
    page = client.get("/login")
    answer = client.post("/login", data={"username": "audra", "password": AUDITOR_PASSWORD,
                                         "csrf_token": csrf_from(page.text), "next": target})
    assert answer.headers["Location"] == "/console/"


def test_ui_pages_carry_security_headers(client):
    answer = client.get("/login")
    csp = answer.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert answer.headers["Cache-Control"] == "no-store"
    css = client.get("/static/ui.css")
    assert css.status_code == 200 and css.headers["X-Content-Type-Options"] == "nosniff"


def test_secure_cookie_and_hsts_when_the_public_url_is_https(settings):
    from dataclasses import replace

    app = create_app(replace(settings, public_base_url="https://connector.example.org"))
    try:
        answer = app.test_client().get("/login")
        assert "Secure" in answer.headers["Set-Cookie"]
        assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        app.extensions["lrs_engine"].dispose()


def test_learner_page_through_a_signed_link(client, demo_learner, link_for):
    answer = client.get(link_for(demo_learner))
    assert answer.status_code == 200
    html = answer.text
    for text in ("Readiness per role", "Dimensions", "Competencies and evidence", "History",
                 "Next steps", 'role="img"', "<title id=\"dims-title\">", 'id="badges"'):
        assert text in html, text
    assert "Set-Cookie" not in answer.headers  # the link is the credential, no session
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["X-Frame-Options"] == "DENY"  # no LMS origins configured


def test_learner_page_shows_evidence_with_statement_rule_and_time(client, engine, demo_learner,
                                                                  link_for):
    from lrs_connector.store import database

    with database.read(engine) as conn:
        row = conn.exec_driver_sql(
            "SELECT rule_id, mapping_version FROM evidence WHERE learner_id = ? LIMIT 1"
            if engine.dialect.name == "sqlite" else
            "SELECT rule_id, mapping_version FROM evidence WHERE learner_id = %s LIMIT 1",
            (demo_learner,),
        ).first()
    html = client.get(link_for(demo_learner)).text
    assert f"{row.rule_id} v{row.mapping_version}" in html
    assert "Finance for L&amp;D leaders" in html or "Leading change" in html


def test_expired_changed_and_orphan_links_get_clear_pages(client, demo_learner, link_for):
    expired = client.get(link_for(demo_learner, days=1,
                                  now=datetime.now(UTC) - timedelta(days=2)))
    assert expired.status_code == 410 and "This link has expired" in expired.text
    path = link_for(demo_learner)
    changed = client.get(path[:-3] + ("abc" if not path.endswith("abc") else "xyz"))
    assert changed.status_code == 403 and "This link is not valid" in changed.text
    assert changed.headers["Content-Type"].startswith("text/html")
    orphan = client.get(link_for(999_999))
    assert orphan.status_code == 404 and "There is no learner for this link" in orphan.text


def test_learner_page_may_be_framed_only_by_configured_lms_origins(settings, demo_learner):
    from lrs_connector import learner_links

    app = create_app(dataclasses.replace(settings,
                                         ui_frame_ancestors=("https://moodle.example.org",)))
    try:
        client = app.test_client()
        token = learner_links.issue(app.config["SECRET_KEY"], demo_learner, datetime.now(UTC))
        page = client.get(f"/learner/{token}")
        assert page.headers["Content-Security-Policy"].endswith(
            "frame-ancestors https://moodle.example.org")
        assert "X-Frame-Options" not in page.headers
        login = client.get("/login")
        assert "frame-ancestors 'none'" in login.headers["Content-Security-Policy"]
    finally:
        app.extensions["lrs_engine"].dispose()


def test_a_bad_frame_ancestor_stops_start_up(settings):
    from lrs_connector.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match=r"LRS_CONNECTOR_UI_FRAME_ANCESTORS: .*not an origin"):
        load_settings(environ={"LRS_CONNECTOR_UI_FRAME_ANCESTORS": "https://lms.example.org,*"})
    with pytest.raises(SettingsError, match="secret_key must be at least 32"):
        load_settings(environ={"LRS_CONNECTOR_SECRET_KEY": "short"})
    ok = load_settings(environ={"LRS_CONNECTOR_UI_FRAME_ANCESTORS": "https://lms.example.org/"})
    assert ok.ui_frame_ancestors == ("https://lms.example.org/",)


def test_auditors_see_learners_and_their_pages(client, auditor, demo_learner):
    sign_in(client, "audra", AUDITOR_PASSWORD)
    listing = client.get("/console/learners")
    assert listing.status_code == 200
    assert f'href="/console/learners/{demo_learner}"' in listing.text
    page = client.get(f"/console/learners/{demo_learner}")
    assert page.status_code == 200 and "Competencies and evidence" in page.text
    assert client.get("/console/learners/999999").status_code == 404


def test_admins_see_the_admin_placeholder(client, admin):
    sign_in(client, "adam", ADMIN_PASSWORD)
    assert "Administration" in client.get("/console/").text


def test_accounts_cli_adds_lists_disables_and_changes_passwords(app, runner, engine):
    from lrs_connector.accounts.cli import accounts
    from lrs_connector.store import accounts as store
    from lrs_connector.store import database

    added = runner.invoke(accounts, ["add", "Lead", "--role", "admin", "--password-stdin"],
                          input="a good long passphrase\n")
    assert added.exit_code == 0, added.output
    assert "account lead (admin) created" in added.output
    weak = runner.invoke(accounts, ["add", "weak", "--role", "auditor", "--password-stdin"],
                         input="short\n")
    assert weak.exit_code != 0 and "at least 12 characters" in weak.output
    twice = runner.invoke(accounts, ["add", "lead", "--role", "auditor", "--password-stdin"],
                          input="a good long passphrase\n")
    assert twice.exit_code != 0 and "already exists" in twice.output
    listed = runner.invoke(accounts, ["list"])
    assert "lead" in listed.output and "admin" in listed.output and "never" in listed.output
    assert "a good long passphrase" not in added.output + listed.output
    changed = runner.invoke(accounts, ["set-password", "lead", "--password-stdin"],
                            input="a brand new passphrase\n")
    assert changed.exit_code == 0, changed.output
    disabled = runner.invoke(accounts, ["disable", "lead"])
    assert disabled.exit_code == 0 and "disabled" in disabled.output
    with database.read(engine) as conn:
        found = store.password_hash(conn, "lead")
    from lrs_connector.accounts import verify_password

    assert not found[0].enabled and verify_password(found[1], "a brand new passphrase")


def test_accounts_cli_prompts_for_the_password_twice(runner, engine):
    from lrs_connector.accounts.cli import accounts

    answer = runner.invoke(accounts, ["add", "audra", "--role", "auditor"],
                           input="a good long passphrase\na good long passphrase\n")
    assert answer.exit_code == 0, answer.output
    assert "a good long passphrase" not in answer.output  # hidden input


def test_link_cli_prints_a_link_that_opens_the_page(app, runner, client, demo_learner):
    from lrs_connector.accounts.cli import learner_link

    answer = runner.invoke(learner_link, [str(demo_learner), "--days", "3"])
    assert answer.exit_code == 0, answer.output
    url = answer.output.strip()
    assert url.startswith("http://127.0.0.1:8080/learner/")
    assert client.get(url.removeprefix("http://127.0.0.1:8080")).status_code == 200
    unknown = runner.invoke(learner_link, ["999999"])
    assert unknown.exit_code != 0 and "no learner 999999" in unknown.output
