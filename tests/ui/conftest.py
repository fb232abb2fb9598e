"""The UI blueprints on the test app (until app.py registers them), accounts, and a browser-
ready server: the app served on 127.0.0.1 by werkzeug in a thread."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from lrs_connector.accounts import hash_password
from lrs_connector.store import accounts, database

AUDITOR_PASSWORD = "correct horse battery staple"
ADMIN_PASSWORD = "another long admin passphrase"


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


class _QuietHandler(WSGIRequestHandler):
    """No access log: learner page paths carry link tokens (gunicorn's is off too)."""

    def log_request(self, *args, **kwargs) -> None:
        pass


@pytest.fixture
def live_server(app):
    """The app on http://127.0.0.1:<free port>, for the browser."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
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
