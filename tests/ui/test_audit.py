"""The audit console over HTTP (Flask's test client) on the demo data plus a few statements of
our own posted through the real intake: filters, keyset pages, one statement explained, rules,
coverage, what-if and publish, who may do what, and the CSV exports (content and escaping)."""

from __future__ import annotations

import csv
import html
import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from lrs_connector.mapping import bundled
from lrs_connector.store import database
from lrs_connector.store import mapping as mapping_store
from lrs_connector.web.ui import audit
from tests.ui.conftest import csrf_from

DOODLED = "http://example.org/verbs/doodled"
SKETCH = "https://example.org/activities/sketch"
EVIL_NAME = "=HYPERLINK(\"http://evil.example\",\"click\")"


@pytest.fixture
def app(app):
    """The audit blueprint on the test app until `web/ui/__init__.py` lists it."""
    if "audit" not in app.blueprints:
        app.register_blueprint(audit.bp)
    return app


def _post(client, headers, statements: list[dict]) -> None:
    answer = client.post("/xapi/statements", json=statements, headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)


@pytest.fixture
def data(app, client, engine, demo_learner, source_headers):
    """The demo (processed) plus 3 unmapped statements from source `lms` (one with an actor
    name that is a spreadsheet formula) and one voided statement."""
    from lrs_connector import processing

    now = datetime.now(UTC)
    ours = [{
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "name": EVIL_NAME if n == 0 else f"Doodler {n}",
                  "mbox": f"mailto:doodler{n}@example.org"},
        "verb": {"id": DOODLED},
        "object": {"id": SKETCH},
        "timestamp": (now - timedelta(days=400 + n)).isoformat(),
    } for n in range(3)]
    _post(client, source_headers, ours)
    _post(client, source_headers, [{
        "id": str(uuid.uuid4()), "actor": {"mbox": "mailto:doodler0@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
        "object": {"objectType": "StatementRef", "id": ours[2]["id"]},
    }])
    while processing.process_batch(engine, 500):
        pass
    return {"learner": demo_learner, "ours": [s["id"] for s in ours], "now": now}


def _ids(page: str) -> list[str]:
    return re.findall(r'href="/console/audit/statements/([0-9a-f-]{36})"', page)


def _older(page: str) -> str | None:
    found = re.search(r'<a href="([^"]+)">Older</a>', page)
    return html.unescape(found.group(1)) if found else None


def _csv(answer) -> list[list[str]]:
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(answer.get_data(as_text=True))))


def _scalar(engine, sql: str, **params):
    with database.read(engine) as conn:
        return conn.execute(sa.text(sql), params).scalar()


# --- who may come in --------------------------------------------------------------------------


PAGES = ["/console/audit/statements", "/console/audit/rules", "/console/audit/coverage",
         "/console/audit/whatif", "/console/audit/statements.csv", "/console/audit/rules.csv",
         "/console/audit/coverage.csv", "/console/audit/unmapped.csv"]


def test_signed_out_visitors_and_learner_links_are_sent_to_sign_in(client, data, link_for):
    assert client.get(link_for(data["learner"])).status_code == 200  # the learner's own page
    for path in [*PAGES, f"/console/audit/statements/{data['ours'][0]}"]:
        answer = client.get(path)
        assert answer.status_code == 302, path
        assert "/login" in answer.headers["Location"]


def test_auditors_read_every_page_with_the_console_headers(as_auditor, data):
    for path in PAGES:
        answer = as_auditor.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["Cache-Control"] == "no-store"


def test_auditors_cannot_publish(as_auditor, engine, data):
    with database.write(engine) as conn:
        draft = mapping_store.import_version(conn, bundled.bundled_text(), "test",
                                             datetime.now(UTC))
    page = as_auditor.get(f"/console/audit/whatif?version={draft}").get_data(as_text=True)
    assert "Publish version" not in page
    assert as_auditor.get(f"/console/audit/whatif/{draft}/publish").status_code == 403
    token = csrf_from(as_auditor.get("/console/audit/statements").get_data(as_text=True))
    answer = as_auditor.post(f"/console/audit/whatif/{draft}/publish",
                             data={"csrf_token": token, "confirm": "yes"})
    assert answer.status_code == 403
    assert _scalar(engine, "SELECT status FROM mapping_versions WHERE version = :v",
                   v=draft) == "draft"


# --- statements: filters and pages ------------------------------------------------------------


def test_every_statement_is_listed_once_newest_first_across_keyset_pages(as_auditor, engine,
                                                                         data):
    seen: list[str] = []
    url = "/console/audit/statements"
    pages = 0
    while url:
        page = as_auditor.get(url).get_data(as_text=True)
        ids = _ids(page)
        assert len(ids) <= audit.PAGE_SIZE
        seen += ids
        url = _older(page)
        pages += 1
        assert "OFFSET" not in (url or "")
    total = _scalar(engine, "SELECT count(*) FROM statements")
    assert len(seen) == len(set(seen)) == total
    assert pages == -(-total // audit.PAGE_SIZE)
    with database.read(engine) as conn:
        expected = conn.execute(sa.text(
            "SELECT id FROM statements ORDER BY timestamp DESC, seq DESC")).scalars().all()
    assert seen == expected


def test_a_damaged_page_link_is_refused_plainly(as_auditor, data):
    answer = as_auditor.get("/console/audit/statements?before=2026-01-01T00:00:00Z'--")
    assert answer.status_code == 400
    assert "The page link is damaged" in answer.get_data(as_text=True)


def test_filters_by_verb_activity_source_and_state(as_auditor, engine, data):
    ours = set(data["ours"])
    page = as_auditor.get(f"/console/audit/statements?verb={DOODLED}").get_data(as_text=True)
    assert set(_ids(page)) == ours
    page = as_auditor.get(f"/console/audit/statements?activity={SKETCH}&state=unmapped")
    assert set(_ids(page.get_data(as_text=True))) == ours - {data["ours"][2]}  # one is voided
    page = as_auditor.get("/console/audit/statements?state=voided").get_data(as_text=True)
    assert _ids(page) == [data["ours"][2]]
    mapped = as_auditor.get("/console/audit/statements?state=mapped").get_data(as_text=True)
    assert _ids(mapped) and not ours & set(_ids(mapped))
    first = _ids(mapped)[0]
    assert _scalar(engine, "SELECT count(*) FROM evidence WHERE statement_id = :s AND "
                   "retracted = :f", s=first, f=False) > 0
    source = _scalar(engine, "SELECT id FROM sources WHERE name = 'lms'")
    page = as_auditor.get(f"/console/audit/statements?source={source}").get_data(as_text=True)
    assert set(_ids(page)) == ours | {_scalar(engine, "SELECT id FROM statements WHERE voids "
                                              "IS NOT NULL")}


def test_filters_by_learner_and_time_range(as_auditor, engine, data):
    learner = data["learner"]
    with database.read(engine) as conn:
        expected = set(conn.execute(sa.text(
            "SELECT DISTINCT statement_id FROM evidence WHERE learner_id = :l"), {"l": learner}
        ).scalars())
    seen: set[str] = set()
    url = f"/console/audit/statements?learner={learner}"
    while url:
        page = as_auditor.get(url).get_data(as_text=True)
        seen |= set(_ids(page))
        url = _older(page)
    assert seen == expected
    oldest = (data["now"] - timedelta(days=402)).date()  # the fixture's day, even past midnight
    page = as_auditor.get(f"/console/audit/statements?since={oldest}&until={oldest}")
    assert _ids(page.get_data(as_text=True)) == [data["ours"][2]]
    page = as_auditor.get(f"/console/audit/statements?verb={DOODLED}&since="
                          f"{oldest + timedelta(days=1)}").get_data(as_text=True)
    assert set(_ids(page)) == set(data["ours"][:2])


def test_the_learner_filter_finds_unmapped_statements_and_follows_merges(
    as_auditor, engine, data
):
    from lrs_connector.store import learners as learner_store

    with database.read(engine) as conn:
        doodler = learner_store.lookup(conn, ["mbox:doodler1@example.org"])[
            "mbox:doodler1@example.org"]
    for query in (f"learner={doodler}", f"learner={doodler}&state=unmapped"):
        page = as_auditor.get(f"/console/audit/statements?{query}").get_data(as_text=True)
        assert _ids(page) == [data["ours"][1]]
    with database.write(engine) as conn:
        learner_store.merge(conn, data["learner"], doodler, datetime.now(UTC))
    page = as_auditor.get(f"/console/audit/statements?learner={data['learner']}&state=unmapped")
    assert data["ours"][1] in _ids(page.get_data(as_text=True))


@pytest.mark.parametrize("query, message", [
    ("learner=abc", "Learner must be a learner id"),
    ("since=31/12/2026", "From must be a date"),
    ("since=2026-02-01&until=2026-01-01", "Until must not be before From"),
    ("state=everything", "State must be one of"),
    ("verb=" + "x" * 3000, "Verb must be one IRI"),
])
def test_bad_filters_are_explained_in_an_alert(as_auditor, data, query, message):
    answer = as_auditor.get(f"/console/audit/statements?{query}")
    assert answer.status_code == 400
    text = answer.get_data(as_text=True)
    assert 'role="alert"' in text and message in text
    assert as_auditor.get(f"/console/audit/statements.csv?{query}").status_code == 400


# --- one statement ----------------------------------------------------------------------------


def test_a_statement_shows_its_rules_evidence_and_readiness(as_auditor, engine, data):
    with database.read(engine) as conn:
        statement_id, rule_id = conn.execute(sa.text(
            "SELECT statement_id, rule_id FROM evidence WHERE learner_id = :l AND retracted = "
            ":f ORDER BY timestamp DESC LIMIT 1"), {"l": data["learner"], "f": False}).one()
    answer = as_auditor.get(f"/console/audit/statements/{statement_id}")
    assert answer.status_code == 200
    page = html.unescape(answer.get_data(as_text=True))
    assert f'<span class="rule-id">{rule_id}</span>' in page
    matched = re.search(rf'<tr class="matched">\s*<th scope="row"><span class="rule-id">'
                        rf'{re.escape(rule_id)}</span>', page)
    assert matched
    assert re.search(r"did not match</span></td>\s*<td><code>match\.", page)  # and why not
    assert "Evidence created" in page and "in force" in page
    assert "Readiness before and after processing" in page
    assert f'"id": "{statement_id}"' in page  # the JSON


def test_an_unmapped_statement_says_why_no_rule_matched(as_auditor, data):
    page = as_auditor.get(f"/console/audit/statements/{data['ours'][0]}").get_data(as_text=True)
    assert "0 of" in page and "This statement created no evidence." in page
    assert "No readiness change was recorded" in page


def test_unknown_or_malformed_statement_ids_answer_404(as_auditor, data):
    assert as_auditor.get(f"/console/audit/statements/{uuid.uuid4()}").status_code == 404
    assert as_auditor.get("/console/audit/statements/not-an-id").status_code == 404


# --- rules, coverage --------------------------------------------------------------------------


def test_rules_show_hit_counts_and_sample_links(as_auditor, engine, data):
    page = html.unescape(as_auditor.get("/console/audit/rules").get_data(as_text=True))
    with database.read(engine) as conn:
        hits = dict(conn.execute(sa.text(
            "SELECT rule_id, count(DISTINCT statement_id) FROM evidence WHERE "
            "mapping_version = 2 AND retracted = :f GROUP BY rule_id"), {"f": False}).all())
    assert hits
    for rule_id, count in hits.items():
        row = re.search(rf'<span class="rule-id">{re.escape(rule_id)}</span>.*?</tr>', page,
                        re.S).group(0)
        assert f'<td class="num">{count}</td>' in row
        assert _ids(row)
    rows = _csv(as_auditor.get("/console/audit/rules.csv"))
    assert rows[0][:2] == ["mapping version", "rule"]
    assert {r[1]: int(r[5]) for r in rows[1:] if int(r[5])} == hits


def test_coverage_lists_gaps_and_unmapped_activities(as_auditor, data):
    page = as_auditor.get("/console/audit/coverage").get_data(as_text=True)
    assert SKETCH in page
    row = re.search(rf"{re.escape(SKETCH)}</td>\s*<td class=\"num\">(\d+)</td>", page)
    assert row and row.group(1) == "2"  # the voided one does not count
    rows = _csv(as_auditor.get("/console/audit/unmapped.csv"))
    assert [SKETCH, "2"] in rows
    coverage = _csv(as_auditor.get("/console/audit/coverage.csv"))
    known = bundled.known_targets()
    assert {r[1] for r in coverage[1:]} == set(known)
    assert all(r[5] in ("yes", "no") and r[6] in ("yes", "no") for r in coverage[1:])


# --- what-if and publish ----------------------------------------------------------------------


@pytest.fixture
def draft(engine, data) -> int:
    """The bundled rules (without the demo catalogue) as a draft: what-if shows removals."""
    with database.write(engine) as conn:
        return mapping_store.import_version(conn, bundled.bundled_text(), "test",
                                            datetime.now(UTC))


def test_whatif_shows_the_diff_and_exports_it(as_auditor, engine, draft):
    page = as_auditor.get("/console/audit/whatif").get_data(as_text=True)
    assert f'<option value="{draft}"' in page
    page = html.unescape(as_auditor.get(f"/console/audit/whatif?version={draft}")
                         .get_data(as_text=True))
    removed = int(re.search(r"<dt>Rows removed</dt><dd>(\d+)</dd>", page).group(1))
    assert removed > 0
    assert "Changes per competency and learner" in page
    rows = _csv(as_auditor.get(f"/console/audit/whatif.csv?version={draft}"))
    assert rows[0][:3] == ["mapping version", "learner", "target"]
    assert sum(int(r[5]) for r in rows[1:]) == removed
    assert all(r[0] == str(draft) for r in rows[1:])


def test_admins_publish_a_draft_after_confirming(as_admin, engine, draft):
    page = as_admin.get(f"/console/audit/whatif?version={draft}").get_data(as_text=True)
    assert f"/console/audit/whatif/{draft}/publish" in page
    confirm = as_admin.get(f"/console/audit/whatif/{draft}/publish").get_data(as_text=True)
    assert f"Yes, publish version {draft}" in confirm and "version 2 is retired" in confirm
    token = csrf_from(confirm)
    refused = as_admin.post(f"/console/audit/whatif/{draft}/publish",
                            data={"csrf_token": token})
    assert refused.status_code == 400  # not confirmed
    assert as_admin.post(f"/console/audit/whatif/{draft}/publish",
                         data={"confirm": "yes"}).status_code == 400  # no CSRF token
    assert _scalar(engine, "SELECT status FROM mapping_versions WHERE version = :v",
                   v=draft) == "draft"
    answer = as_admin.post(f"/console/audit/whatif/{draft}/publish",
                           data={"csrf_token": token, "confirm": "yes"},
                           follow_redirects=True)
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert f"Mapping version {draft} is published; version 2 is retired." in text
    assert f"Rules of mapping version {draft}" in text
    assert _scalar(engine, "SELECT version FROM mapping_versions WHERE status = 'published'"
                   ) == draft
    again = as_admin.post(f"/console/audit/whatif/{draft}/publish",
                          data={"csrf_token": token, "confirm": "yes"})
    assert again.status_code == 409  # only drafts


# --- CSV --------------------------------------------------------------------------------------


def test_statement_csv_has_the_filters_and_neutralises_formulas(as_auditor, data):
    answer = as_auditor.get(f"/console/audit/statements.csv?verb={DOODLED}")
    disposition = answer.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="statements-\d{8}T\d{6}Z\.csv"', disposition)
    rows = _csv(answer)
    assert rows[0] == list(audit.STATEMENT_HEADER)
    assert {r[0] for r in rows[1:]} == set(data["ours"])
    actors = {r[2] for r in rows[1:]}
    assert "'" + EVIL_NAME in actors and EVIL_NAME not in actors
    assert {r[6] for r in rows[1:]} == {"unmapped", "voided"}


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+SUM(A1)", "'+SUM(A1)"), ("-2+3", "'-2+3"), ("@cmd", "'@cmd"),
    ("\t=x", "'\t=x"), ("plain", "plain"), (-1.5, -1.5), (3, 3), (None, ""), (True, "yes"),
])
def test_csv_cells_never_start_a_formula(value, expected):
    assert audit.csv_cell(value) == expected
