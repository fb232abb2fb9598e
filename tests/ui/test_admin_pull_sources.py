"""The admin console's pull sources page (`/console/admin/pull-sources`): a failing source's
error, since when, how many failures in a row and the next attempt, escaped and bounded; who
may see it; never a credential."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from lrs_connector.store import database
from lrs_connector.store import pull as pull_store
from tests.pull.attempts import record_failure

PAGE = "/console/admin/pull-sources"
PASSWORD = "lrs-password-that-must-stay-hidden"
PASSWORD_VAR = "TEST_CONSOLE_LRS_PASSWORD"
USERNAME = "connector-user-at-the-lrs"
HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)> LRS answered 502'
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def sources(engine, monkeypatch):
    """`broken` failed twice (the second time with a hostile error text), `fine` never did."""
    monkeypatch.setenv(PASSWORD_VAR, PASSWORD)
    with database.write(engine) as conn:
        pull_store.add(conn, "broken", "http://127.0.0.1:9/xapi/", username=USERNAME,
                       password_ref=f"env:{PASSWORD_VAR}")
        pull_store.add(conn, "fine", "https://lrs.example.org/data/xAPI/", username=USERNAME,
                       password_ref="file:/run/secrets/lrs-password")
    record_failure(engine, "broken", "could not connect", T0)
    record_failure(engine, "broken", HOSTILE, T0 + timedelta(minutes=3))


def test_a_failing_source_shows_its_error_when_how_often_and_the_next_attempt(as_auditor,
                                                                              sources):
    answer = as_auditor.get(PAGE)
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    text = text_of(html)
    assert "Failing: 1 pull source" in text
    assert "broken: failing, 2 attempts in a row" in text
    assert "Last error at 2026-11-28 12:03" in text
    assert "Next attempt: 2026-11-28 12:07" in text  # 12:03 + 240 s
    assert '<time datetime="2026-11-28T12:03:00+00:00">' in html
    assert "Failing (2 in a row)" in text and "fine" in text
    # The remote error text is shown, escaped: no markup of its own reaches the page.
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html
    assert "LRS answered 502" in text
    # Accessible like the other admin tables.
    assert '<caption id="pull-sources-caption">' in html
    assert 'role="region" aria-labelledby="pull-sources-caption" tabindex="0"' in html
    assert html.count('scope="col"') == 11
    assert 'aria-current="page">LRS polling</a>' in html


def test_no_credential_is_on_the_page(as_admin, sources):
    answer = as_admin.get(PAGE)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "broken" in html and "fine" in html
    for secret in (PASSWORD, PASSWORD_VAR, USERNAME, "/run/secrets/lrs-password", "test-owner"):
        assert secret not in html, secret


def test_long_errors_are_bounded(as_auditor, engine, sources):
    record_failure(engine, "broken", "E" * 5000, T0 + timedelta(minutes=10))
    html = as_auditor.get(PAGE).get_data(as_text=True)
    longest = max(len(run) for run in re.findall(r"E{50,}", html))
    assert longest == pull_store.MAX_ERROR_CHARS  # the store's bound, in the failing list
    assert re.search(r"E{190,200}\.\.\.", html)  # the table shows the start only


def test_a_recovered_source_is_not_shown_as_failing(as_auditor, engine, sources):
    with database.write(engine) as conn:
        broken = pull_store.get(conn, "broken")
        now = T0 + timedelta(minutes=20)
        assert pull_store.claim(conn, broken.id, "test-owner", now, 60)
        pull_store.finish(conn, broken.id, "test-owner", now=now, error=None, retry_after=60)
    text = text_of(as_auditor.get(PAGE).get_data(as_text=True))
    assert "Failing" not in text
    assert "(since recovered)" in text


def test_no_pull_sources_says_how_to_add_one(as_auditor):
    text = text_of(as_auditor.get(PAGE).get_data(as_text=True))
    assert "No pull sources yet: add one with lrs-connector pull-sources add" in text


def test_pages_of_fifty_by_name(as_auditor, engine):
    with database.write(engine) as conn:
        for n in range(51):
            pull_store.add(conn, f"lrs-{n:02d}", f"https://lrs{n}.example.org/xAPI/")
    first = as_auditor.get(PAGE).get_data(as_text=True)
    assert "lrs-49" in first and "lrs-50" not in first
    assert f'href="{PAGE}?after=lrs-49">Next page' in first
    second = as_auditor.get(f"{PAGE}?after=lrs-49").get_data(as_text=True)
    assert "lrs-50" in second and "lrs-49</th>" not in second


def test_failing_sources_of_every_page_are_listed_first(as_auditor, engine):
    with database.write(engine) as conn:
        for n in range(80):
            pull_store.add(conn, f"lrs-{n:02d}", f"https://lrs{n}.example.org/xAPI/")
    for n in range(55, 80):  # all after the first page
        record_failure(engine, f"lrs-{n:02d}", "502 Bad Gateway", T0)
    text = text_of(as_auditor.get(PAGE).get_data(as_text=True))
    assert "Failing: 25 pull sources" in text
    assert "The first 20 by name; GET /api/v1/pull-sources?failing=true lists them all" in text
    assert "lrs-55: failing, 1 attempt in a row" in text
    assert "lrs-74: failing" in text and "lrs-75: failing" not in text


def test_signed_out_visitors_are_sent_to_sign_in(client, sources):
    answer = client.get(PAGE)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(f"/login?next={PAGE}")
    assert b"broken" not in answer.data


def test_the_page_declares_who_may_see_it(app):
    view = app.view_functions["admin_console.pull_sources"]
    assert view.access == "signed-in auditor"
    assert "Callers: signed-in auditors and admins" in view.__doc__
