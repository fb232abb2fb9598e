"""In a real browser (Playwright driving Debian's chromium): sign in, throttling, a learner
page through a signed link, keyboard navigation, CSRF, headers, 375 px wide. Each main page
is saved as a screenshot in $LRS_CONNECTOR_TEST_ARTIFACTS (default: the test's tmp folder).

Skipped without chromium or the playwright package, except on CI (`CI` set), where that fails
(the `browser` fixture in conftest.py).
"""

from __future__ import annotations

import pytest

from lrs_connector.accounts import throttle
from tests.ui.conftest import AUDITOR_PASSWORD, expect

pytestmark = pytest.mark.slow


def _sign_in(page, base: str, username: str, password: str):
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_auditor_signs_in_and_is_throttled_after_repeated_failures(
    page, live_server, auditor, artifacts
):
    page.goto(f"{live_server}/login")
    page.screenshot(path=artifacts / "login.png", full_page=True)
    _sign_in(page, live_server, "audra", "not the password at all")
    assert page.get_by_role("alert").inner_text() == "The username or password is not right."
    for _ in range(throttle.ACCOUNT_POLICY.threshold - 1):
        _sign_in(page, live_server, "audra", "not the password at all")
    _sign_in(page, live_server, "audra", AUDITOR_PASSWORD)
    assert "Too many failed sign-ins" in page.get_by_role("alert").inner_text()
    page.screenshot(path=artifacts / "login-throttled.png", full_page=True)
    assert page.url.endswith("/login")


def test_auditor_reaches_a_learner_page_from_the_console(
    page, live_server, auditor, demo_learner, artifacts
):
    _sign_in(page, live_server, "audra", AUDITOR_PASSWORD)
    page.wait_for_url(f"{live_server}/console/")
    assert page.get_by_role("heading", level=1).inner_text() == "Console"
    page.screenshot(path=artifacts / "console.png", full_page=True)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Learners").click()
    page.wait_for_url(f"{live_server}/console/learners")
    page.screenshot(path=artifacts / "console-learners.png", full_page=True)
    page.locator(f'a[href="/console/learners/{demo_learner}"]').click()
    expect(page.get_by_role("heading", name="Readiness per role")).to_be_visible()
    page.screenshot(path=artifacts / "console-learner.png", full_page=True)
    page.get_by_role("button", name="Sign out").click()
    assert page.get_by_role("status").inner_text() == "You have signed out."


def test_learner_page_by_link_is_readable_and_keyboard_navigable(
    page, live_server, demo_learner, link_for, artifacts
):
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    answer = page.goto(live_server + link_for(demo_learner))
    assert answer.status == 200
    headers = answer.headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    chart = page.get_by_role("img", name="Proficiency per dimension")
    expect(chart).to_be_visible()
    expect(page.locator("svg.bars text.bar-value").first).to_be_attached()
    expect(page.get_by_role("heading", name="Competencies and evidence")).to_be_visible()
    expect(page.locator("table.evidence tbody tr").first).to_be_attached()
    assert errors == []  # the CSP blocked nothing the page needs
    page.screenshot(path=artifacts / "learner.png", full_page=True)

    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to main content"
    expect(page.get_by_role("link", name="Skip to main content")).to_be_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")  # the next stop is inside the main content
    assert page.evaluate("document.getElementById('main').contains(document.activeElement)")


def test_learner_page_fits_a_375_pixel_screen(browser, live_server, demo_learner, link_for,
                                              artifacts):
    context = browser.new_context(viewport={"width": 375, "height": 740})
    try:
        narrow = context.new_page()
        narrow.goto(live_server + link_for(demo_learner))
        assert narrow.evaluate("document.documentElement.scrollWidth") <= 375
        narrow.screenshot(path=artifacts / "learner-375.png", full_page=True)
    finally:
        context.close()


def test_expired_or_changed_links_show_a_clear_page(page, live_server, demo_learner, link_for,
                                                    artifacts):
    from datetime import UTC, datetime, timedelta

    answer = page.goto(live_server + link_for(demo_learner, days=1,
                                              now=datetime.now(UTC) - timedelta(days=3)))
    assert answer.status == 410
    assert page.get_by_role("heading", level=1).inner_text() == "This link has expired"
    page.screenshot(path=artifacts / "learner-expired.png", full_page=True)
    path = link_for(demo_learner)
    answer = page.goto(live_server + path[:-4] + ("AAAA" if not path.endswith("AAAA") else "BBBB"))
    assert answer.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "This link is not valid"


def test_a_form_post_without_the_csrf_token_is_refused(page, live_server, auditor):
    page.goto(f"{live_server}/login")
    page.evaluate("document.querySelector('input[name=csrf_token]').remove()")
    page.get_by_label("Username").fill("audra")
    page.get_by_label("Password").fill(AUDITOR_PASSWORD)
    with page.expect_response(lambda r: r.url.endswith("/login") and
                              r.request.method == "POST") as posted:
        page.get_by_role("button", name="Sign in").click()
    assert posted.value.status == 400
    assert page.get_by_role("heading", level=1).inner_text() == "The form could not be accepted"
    page.goto(f"{live_server}/console/")
    assert "/login" in page.url  # not signed in
