"""The admin console in a real browser (Playwright driving Debian's chromium), on the demo data
delivered to a real webhook receiver: create a source and see its secret once, check a target,
retry a dead letter and watch it arrive, link an unresolved learner, merge two learners.
Screenshots of each page go to $LRS_CONNECTOR_TEST_ARTIFACTS (default: the test's tmp folder).

Skipped without chromium or playwright, except on CI (`CI` set), where that fails.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from lrs_connector.lms.delivery import Dispatcher, Policy
from lrs_connector.store import database, outbox
from lrs_connector.store.learner_tables import learner_aliases, learners
from lrs_connector.store.lms_tables import deliveries
from tests.ui.conftest import ADMIN_PASSWORD, expect

pytestmark = [pytest.mark.slow, pytest.mark.webhook_targets]


@pytest.fixture
def delivered(app, engine, demo_learner, receiver):
    """The demo's readiness sent to `hr`, which refuses everything (400): dead letters. One
    learner's deliveries are then marked unresolved, as an LMS target that finds no user
    leaves them (a webhook always resolves)."""
    hr = {"hr": app.extensions["lrs_targets"]["hr"]}
    receiver.answers = [(400, {})] * 10_000
    Dispatcher(app.extensions["lrs_engine"], hr, Policy()).drain()
    receiver.answers = []
    with database.write(engine) as conn:
        ids = conn.execute(sa.select(learners.c.id).where(learners.c.merged_into.is_(None))
                           .order_by(learners.c.id)).scalars().all()
        lonely = conn.execute(sa.select(sa.func.max(deliveries.c.learner_id))).scalar()
        conn.execute(deliveries.update().where(deliveries.c.learner_id == lonely)
                     .values(status="unresolved", last_error="no user matches"))
        dead = conn.execute(sa.select(sa.func.count()).select_from(deliveries)
                            .where(deliveries.c.status == "dead")).scalar()
    assert dead > 0
    return {"hr": hr["hr"], "unresolved": lonely, "learners": [i for i in ids if i != lonely]}


def _sign_in(tab, base: str) -> None:
    tab.goto(f"{base}/login")
    tab.get_by_label("Username").fill("adam")
    tab.get_by_label("Password").fill(ADMIN_PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(f"{base}/console/")


def test_admin_runs_the_console(page, live_server, admin, engine, receiver, delivered,
                                artifacts):
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _sign_in(page, live_server)
    page.goto(f"{live_server}/console/admin/")
    assert page.get_by_role("heading", level=1).inner_text() == "Administration"
    page.screenshot(path=artifacts / "admin-home.png", full_page=True)

    # Sources: create one, see its secret once
    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Sources").click()
    page.get_by_label("Name", exact=True).fill("learning-locker")
    page.get_by_label("Description (optional)").fill("LL production")
    page.get_by_role("button", name="Create source").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Source learning-locker created"
    secret = page.locator("#source-secret").inner_text()
    assert len(secret) >= 40
    assert "/console/admin/sources" in page.url and secret not in page.url
    page.screenshot(path=artifacts / "admin-source-secret.png", full_page=True)
    page.get_by_role("link", name="Back to the sources").click()
    expect(page.get_by_role("row", name=re.compile("learning-locker"))).to_be_visible()
    assert secret not in page.content()
    page.screenshot(path=artifacts / "admin-sources.png", full_page=True)

    # Targets: check hr, see the findings
    page.get_by_role("link", name="LMS targets").click()
    page.get_by_role("button", name="Check hr").click()
    assert page.get_by_role("status").first.inner_text() == "Check of hr: everything is fine."
    expect(page.get_by_text("accepted a signed ping (200)")).to_be_visible()
    page.screenshot(path=artifacts / "admin-targets.png", full_page=True)

    # Outbox: retry one dead letter; once sent again, the receiver gets it
    page.get_by_role("link", name="Outbox").click()
    page.get_by_label("Status", exact=True).select_option("dead")
    page.get_by_label("Target", exact=True).select_option("hr")
    page.get_by_role("button", name="Show").click()
    first_row = page.locator("tbody tr").first
    delivery_id = int(first_row.get_attribute("id").removeprefix("delivery-"))
    assert "refused the change (400)" in first_row.inner_text()
    page.screenshot(path=artifacts / "admin-outbox-dead.png", full_page=True)
    page.get_by_role("button", name=f"Retry delivery {delivery_id}", exact=True).click()
    assert page.get_by_role("status").inner_text() == f"Delivery {delivery_id} is queued again."
    assert page.url.endswith("/console/admin/outbox?status=dead&target=hr")
    expect(page.locator(f"#delivery-{delivery_id}")).to_have_count(0)
    Dispatcher(engine, {"hr": delivered["hr"]}, Policy()).drain()
    assert [e["delivery"] for e in receiver.events()][-1] == delivery_id
    with database.read(engine) as conn:
        assert outbox.get(conn, delivery_id)["status"] == "delivered"

    # Unresolved learners: link one to a user id
    learner = delivered["unresolved"]
    page.get_by_role("link", name="Unresolved learners").click()
    page.screenshot(path=artifacts / "admin-unresolved.png", full_page=True)
    page.get_by_label(f"User id at hr for learner {learner}").fill("u-4711")
    page.get_by_role("button", name=f"Link learner {learner}", exact=True).click()
    assert page.get_by_role("status").inner_text().startswith(
        f"Learner {learner} is linked to user u-4711 at hr;")
    expect(page.get_by_text("No unresolved learners.")).to_be_visible()
    with database.read(engine) as conn:
        assert outbox.cached_user(conn, "hr", learner).user_id == "u-4711"

    # Learner merge: pick by id and alias, preview, confirm
    keep, away = delivered["learners"][0], delivered["learners"][1]
    with database.read(engine) as conn:
        alias = conn.execute(sa.select(learner_aliases.c.alias)
                             .where(learner_aliases.c.learner_id == away)
                             .order_by(learner_aliases.c.alias)).scalars().first()
    page.get_by_role("link", name="Merge learners").click()
    page.get_by_label("Learner to keep").fill(str(keep))
    page.get_by_label("Learner to merge into it").fill(alias)
    page.get_by_role("button", name="Preview the merge").click()
    expect(page.get_by_role("heading", name="What the merge does")).to_be_visible()
    expect(page.get_by_role("table", name=f"Learner {away} into learner {keep}")).to_be_visible()
    page.screenshot(path=artifacts / "admin-merge-preview.png", full_page=True)
    page.get_by_role("button", name=f"Merge learner {away} into learner {keep}").click()
    assert page.get_by_role("status").inner_text().startswith(
        f"Learner {away} is merged into learner {keep}:")
    page.get_by_role("link", name=f"Open learner {keep}'s readiness page").click()
    expect(page.get_by_role("heading", name="Readiness per role")).to_be_visible()
    with database.read(engine) as conn:
        merged = conn.execute(sa.select(learners.c.merged_into).where(learners.c.id == away))
        assert merged.scalar() == keep
    assert errors == []  # the CSP blocked nothing the pages need


def test_admin_pages_work_by_keyboard_and_fit_375_pixels(browser, live_server, admin,
                                                         delivered, artifacts):
    context = browser.new_context(viewport={"width": 375, "height": 740})
    try:
        narrow = context.new_page()
        _sign_in(narrow, live_server)
        for name in ("outbox?status=dead", "sources", "targets", "unresolved", "merge"):
            narrow.goto(f"{live_server}/console/admin/{name}")
            assert narrow.evaluate("document.documentElement.scrollWidth") <= 375, name
        narrow.goto(f"{live_server}/console/admin/outbox?status=dead")
        narrow.screenshot(path=artifacts / "admin-outbox-375.png", full_page=True)
        # the first Retry button is reachable with Tab and works with Enter
        for _ in range(60):
            narrow.keyboard.press("Tab")
            label = narrow.evaluate("document.activeElement.textContent || ''")
            if label.startswith("Retry delivery"):
                break
        else:
            pytest.fail("no Retry button reached by keyboard")
        narrow.keyboard.press("Enter")
        narrow.wait_for_load_state()
        assert narrow.get_by_role("status").inner_text().endswith("is queued again.")
    finally:
        context.close()
