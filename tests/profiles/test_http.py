"""POST /api/v1/profiles/match, with the `client` and `auditor_headers` fixtures of conftest."""

import pytest

from tests.profiles.builders import PROFILE_ID, profile_doc, statement, template, tid, verb

URL = "/api/v1/profiles/match"
LND = "https://lrs-connector.dev/xapi"
PASSED = "http://adlnet.gov/expapi/verbs/passed"


@pytest.fixture
def api(client):
    return client


def post(api, headers, body, **kw):
    return api.post(URL, json=body, headers=headers, **kw)


def passed(success=True, sid=None):
    st = {
        "actor": {"mbox": "mailto:a@example.org"},
        "verb": {"id": PASSED},
        "object": {"id": "https://example.org/course"},
        "result": {"success": success},
    }
    if sid:
        st["id"] = sid
    return st


def test_needs_an_api_token(api):
    response = api.post(URL, json={"statements": passed()})
    assert response.status_code == 401


def test_bundled_profiles_by_default(api, auditor_headers):
    response = post(api, auditor_headers, {"statements": [passed(sid="s1"), passed(False)]})
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["profiles"] == [f"{LND}/profiles/lnd-leadership"]
    first, second = data["results"]
    assert first["statement"] == "s1"
    assert first["matched"] == [f"{LND}/templates/passed-learning"]
    assert second["templates"][0]["outcome"] == "invalid"
    assert second["templates"][0]["reasons"][0]["location"] == "$.result.success"


def test_single_statement_template_filter_and_unmatched(api, auditor_headers):
    body = {
        "statements": passed(),
        "template": f"{LND}/templates/failed-learning",
        "include_unmatched": True,
    }
    data = post(api, auditor_headers, body).get_json()
    assert data["results"][0]["templates"][0]["outcome"] == "unmatched"


def test_supplied_profile_and_statement_refs(api, auditor_headers):
    doc = profile_doc(
        templates=[
            template("target", verb=verb("started")),
            template("about", verb=verb("did"), objectStatementRefTemplate=[tid("target")]),
        ]
    )
    about = statement("did")
    about["object"] = {"objectType": "StatementRef", "id": "t1"}
    body = {
        "profile": doc,
        "profile_id": PROFILE_ID,
        "statements": about,
        "statement_refs": [statement("paused", sid="t1")],
    }
    data = post(api, auditor_headers, body).get_json()
    assert data["results"][0]["profiles"][PROFILE_ID]["outcome"] == "invalid"
    body["statement_refs"] = [statement("started", sid="t1")]
    data = post(api, auditor_headers, body).get_json()
    assert data["results"][0]["matched"] == [tid("about")]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({}, 400, "missing-field", "body.statements"),
        ({"statements": []}, 400, "invalid-field", "body.statements"),
        ({"statements": [passed(), 3]}, 400, "invalid-field", "body.statements[1]"),
        ({"statements": [passed()] * 501}, 400, "invalid-field", "body.statements"),
        ({"statements": passed(), "profile": "cmi5"}, 400, "invalid-field", "body.profile"),
        (
            {"statements": passed(), "profile": {"type": "Profile"}},
            422,
            "invalid-profile",
            "body.profile",
        ),
        (
            {"statements": passed(), "profile_id": "https://nope"},
            422,
            "unknown-profile",
            "body.profile_id",
        ),
        (
            {"statements": passed(), "template": "https://nope"},
            422,
            "unknown-template",
            "body.template",
        ),
        (
            {"statements": passed(), "include_unmatched": "yes"},
            400,
            "invalid-field",
            "body.include_unmatched",
        ),
        ({"statements": passed(), "statemnets": []}, 400, "unknown-field", "body.statemnets"),
        ([passed()], 400, "invalid-body", "body"),
    ],
)
def test_bad_input_is_precise(api, auditor_headers, body, status, code, field):
    response = post(api, auditor_headers, body)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error.get("field") == field
    assert error["message"]


def test_unusable_profile_lists_problems(api, auditor_headers):
    doc = profile_doc(
        templates=[template("t", rules=[{"location": "$.a[?(@.b)]", "presence": "included"}])]
    )
    response = post(api, auditor_headers, {"profile": doc, "statements": passed()})
    error = response.get_json()["error"]
    assert (response.status_code, error["code"], error["field"]) == (
        422,
        "invalid-profile",
        "body.profile",
    )
    assert error["problems"][0]["node"] == tid("t")


def test_malformed_json(api, auditor_headers):
    headers = {**auditor_headers, "Content-Type": "application/json"}
    response = api.post(URL, data=b"{nope", headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed-json"
    empty = api.post(URL, data=b"", headers=headers)
    assert empty.get_json()["error"]["code"] == "empty-body"
