"""The audit console in a real browser (Playwright driving Debian's chromium, as in
test_browser.py): an auditor finds a statement by filter, opens its explanation and previews a
draft mapping; an admin publishes it. Screenshots of each page go to
$LRS_CONNECTOR_TEST_ARTIFACTS (default: the test's tmp folder)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from lrs_connector.mapping import bundled
from lrs_connector.store import database
from lrs_connector.store import mapping as mapping_store
from lrs_connector.web.ui import audit
from tests.ui.conftest import ADMIN_PASSWORD, AUDITOR_PASSWORD, expect
from tests.ui.test_browser import _sign_in

pytestmark = pytest.mark.slow

COMPLETED = "http://adlnet.gov/expapi/verbs/completed"


@pytest.fixture
def app(app):
    """The audit blueprint on the test app until `web/ui/__init__.py` lists it."""
    if "audit" not in app.blueprints:
        app.register_blueprint(audit.bp)
    return app


@pytest.fixture
def draft(engine, demo_learner) -> int:
    with database.write(engine) as conn:
        return mapping_store.import_version(conn, bundled.bundled_text(), "browser test",
                                            datetime.now(UTC))


def test_auditor_finds_explains_and_previews_then_admin_publishes(
    page, live_server, auditor, admin, engine, demo_learner, draft, artifacts
):
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _sign_in(page, live_server, "audra", AUDITOR_PASSWORD)
    page.wait_for_url(f"{live_server}/console/")
    page.goto(f"{live_server}/console/audit/")
    assert page.get_by_role("heading", level=1).inner_text() == "Statements"
    page.screenshot(path=artifacts / "audit-statements.png", full_page=True)

    page.get_by_label("Learner id").fill(str(demo_learner))
    page.get_by_label("Verb IRI").fill(COMPLETED)
    page.get_by_label("Mapping").select_option("mapped")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/console/audit/statements?**")
    rows = page.locator("table.audit-table tbody tr")
    expect(rows.first).to_be_attached()
    assert all(t == "completed" for t in page.locator(
        "table.audit-table tbody tr td:nth-child(3)").all_inner_texts())
    page.screenshot(path=artifacts / "audit-statements-filtered.png", full_page=True)

    rows.first.get_by_role("link", name="Explain").click()
    expect(page.get_by_role("heading", name="Rules")).to_be_visible()
    expect(page.locator("tr.matched").first).to_be_attached()
    expect(page.get_by_role("heading", name="Evidence created")).to_be_visible()
    assert "match." in page.locator("tr.failed td").nth(1).inner_text()
    page.screenshot(path=artifacts / "audit-statement.png", full_page=True)

    page.get_by_role("navigation", name="Audit").get_by_role("link", name="Rules").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Rules of mapping")
    page.screenshot(path=artifacts / "audit-rules.png", full_page=True)
    page.get_by_role("navigation", name="Audit").get_by_role("link", name="Coverage").click()
    expect(page.get_by_role("heading", name="Unmapped activities")).to_be_visible()
    page.screenshot(path=artifacts / "audit-coverage.png", full_page=True)

    page.get_by_role("navigation", name="Audit").get_by_role("link", name="What-if").click()
    page.get_by_label("Draft version").select_option(str(draft))
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Changes per competency and learner")).to_be_visible()
    expect(page.get_by_role("link", name=f"Publish version {draft}…")).to_have_count(0)  # auditor
    page.screenshot(path=artifacts / "audit-whatif.png", full_page=True)
    assert errors == []  # the CSP blocked nothing the pages need

    page.get_by_role("button", name="Sign out").click()
    _sign_in(page, live_server, "adam", ADMIN_PASSWORD)
    page.wait_for_url(f"{live_server}/console/")
    page.goto(f"{live_server}/console/audit/whatif?version={draft}")
    page.get_by_role("link", name=f"Publish version {draft}…").click()
    assert page.get_by_role("heading", level=1).inner_text() == (
        f"Publish mapping version {draft}?")
    page.screenshot(path=artifacts / "audit-publish.png", full_page=True)
    page.get_by_label(f"Yes, publish version {draft}").check()
    page.get_by_role("button", name=f"Publish version {draft}").click()
    page.wait_for_url("**/console/audit/rules")
    assert f"Mapping version {draft} is published" in page.get_by_role("status").inner_text()
    page.screenshot(path=artifacts / "audit-published.png", full_page=True)
    with database.read(engine) as conn:
        assert conn.execute(sa.text(
            "SELECT version FROM mapping_versions WHERE status = 'published'")).scalar() == draft


def test_statements_fit_a_375_pixel_screen(browser, live_server, auditor, demo_learner,
                                           artifacts):
    context = browser.new_context(viewport={"width": 375, "height": 740})
    try:
        narrow = context.new_page()
        _sign_in(narrow, live_server, "audra", AUDITOR_PASSWORD)
        narrow.wait_for_url(f"{live_server}/console/")
        narrow.goto(f"{live_server}/console/audit/statements")
        assert narrow.evaluate("document.documentElement.scrollWidth") <= 375
        narrow.screenshot(path=artifacts / "audit-statements-375.png", full_page=True)
    finally:
        context.close()
