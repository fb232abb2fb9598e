"""What the UI tests share: accounts, the demo data, webhook targets on a real receiver, the
app served on 127.0.0.1 by werkzeug in a thread, and a real browser (Playwright driving
Debian's chromium)."""

from __future__ import annotations

import os
import re
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from lrs_connector.accounts import hash_password
from lrs_connector.settings import load_settings
from lrs_connector.store import accounts, database
from tests.delivery.receiver import start
from tests.network import free_port

AUDITOR_PASSWORD = "correct horse battery staple"
ADMIN_PASSWORD = "another long admin passphrase"
HOOK_SECRET = "a-shared-secret-of-some-length"

CHROMIUM = os.environ.get("LRS_CONNECTOR_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "webhook_targets: the app has the webhook targets `hr` (posting to the `receiver` "
        "fixture) and `down` (a closed port), their secret in $HOOK_SECRET",
    )


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (the port was free a moment ago)."""
    return f"http://127.0.0.1:{free_port()}/hook"


@pytest.fixture
def receiver():
    """A webhook receiver on 127.0.0.1 that checks HOOK_SECRET's signatures."""
    found, server = start(HOOK_SECRET)
    yield found
    server.shutdown()


@pytest.fixture
def settings(request, settings, database_url, tmp_path, monkeypatch):
    """The test settings; in tests marked `webhook_targets`, with the targets `hr` and `down`."""
    if request.node.get_closest_marker("webhook_targets") is None:
        return settings
    receiver = request.getfixturevalue("receiver")
    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)
    return load_settings(
        environ={},
        overrides={
            "database_url": database_url,
            "data_dir": str(tmp_path),
            "credential_cache_seconds": 0.0,
            "log_format": "text",
            "public_base_url": "http://127.0.0.1:8080",
            "lms_targets": orjson.dumps({
                "hr": {"kind": "webhook", "url": receiver.url, "secret_env": "HOOK_SECRET"},
                "down": {"kind": "webhook", "url": closed_port_url(),
                         "secret_env": "HOOK_SECRET", "timeout": 2},
            }).decode(),
        },
    )


@pytest.fixture
def auditor(engine):
    with database.write(engine) as conn:
        return accounts.add(conn, "audra", "auditor", hash_password(AUDITOR_PASSWORD),
                            datetime.now(UTC))


@pytest.fixture
def admin(engine):
    with database.write(engine) as conn:
        return accounts.add(conn, "adam", "admin", hash_password(ADMIN_PASSWORD),
                            datetime.now(UTC))


def csrf_from(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client, username: str, password: str, **extra):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_from(page.get_data(as_text=True)),
                                       **extra})


@pytest.fixture
def as_auditor(client, auditor):
    """The test client signed in as the auditor `audra`."""
    assert sign_in(client, "audra", AUDITOR_PASSWORD).status_code == 302
    return client


@pytest.fixture
def as_admin(client, admin):
    """The test client signed in as the admin `adam`."""
    assert sign_in(client, "adam", ADMIN_PASSWORD).status_code == 302
    return client


class _QuietHandler(WSGIRequestHandler):
    """No access log: learner page paths carry link tokens (serve's is off too)."""

    def log_request(self, *args, **kwargs) -> None:
        pass


@pytest.fixture
def live_server(app):
    """The app on http://127.0.0.1:<free port>, for the browser."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def demo_learner(engine, settings) -> int:
    """The demo data, processed; the id of the demo learner with the most evidence."""
    from lrs_connector import demo, processing

    demo.load(engine, settings, echo=lambda _line: None)
    while processing.process_batch(engine, 500):
        pass
    with database.read(engine) as conn:
        return conn.exec_driver_sql(
            "SELECT learner_id FROM evidence GROUP BY learner_id ORDER BY COUNT(*) DESC, "
            "learner_id LIMIT 1"
        ).scalar()


@pytest.fixture
def link_for(app):
    """learner id (and days, or a moment to issue at) → the path of a signed learner link."""
    from lrs_connector import learner_links

    def make(learner_id: int, days: int = 30, now: datetime | None = None) -> str:
        token = learner_links.issue(app.config["SECRET_KEY"], learner_id,
                                    now or datetime.now(UTC), days)
        return f"/learner/{token}"

    return make


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(reason + " (required on CI)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    """Headless chromium, one per test module (two sync Playwrights cannot be alive in one
    process); skipped without it or the playwright package, except on CI (`CI` set), where that
    fails."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed: pip install playwright")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _missing(f"no chromium at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        launched.close()


def expect(locator):
    """Playwright's web-first assertion: it waits (up to 15 s, for busy CI machines) until it
    holds. A click that follows a link only waits for the next page to start loading, so
    what it shows is looked for with this, not with is_visible() or count(), which do not
    wait."""
    from playwright.sync_api import expect as web_first

    web_first.set_options(timeout=15_000)
    return web_first(locator)


@pytest.fixture
def artifacts(tmp_path) -> Path:
    """Where screenshots go: $LRS_CONNECTOR_TEST_ARTIFACTS, else the test's tmp folder."""
    folder = Path(os.environ.get("LRS_CONNECTOR_TEST_ARTIFACTS") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser):
    """A fresh tab (its own cookies) 1280 px wide."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()
