"""``/api/v1/frameworks``: auditors read, admins import; errors name item and field."""

from __future__ import annotations

import json

import pytest

from lrs_connector.frameworks.documents import BUNDLED_IRI, load_bundled
from lrs_connector.web.frameworks import bp
from tests.frameworks.packages import DOC_ID, RUN, SERVER, third_party_package


@pytest.fixture
def client(app):
    if bp.name not in app.blueprints:
        app.register_blueprint(bp)
    return app.test_client()


def _post(client, headers, body, query=""):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(
        f"/api/v1/frameworks{query}",
        data=data,
        headers={**headers, "Content-Type": "application/json"},
    )


def test_reading_needs_an_auditor_token(client, source_headers):
    assert client.get("/api/v1/frameworks").status_code == 401
    assert client.get("/api/v1/frameworks", headers=source_headers).status_code == 401


def test_auditor_lists_and_reads_the_bundled_framework(client, auditor_headers):
    listed = client.get("/api/v1/frameworks", headers=auditor_headers)
    assert listed.status_code == 200
    assert listed.json["frameworks"][0]["iri"] == BUNDLED_IRI
    native = client.get(
        "/api/v1/frameworks/document", query_string={"iri": BUNDLED_IRI}, headers=auditor_headers
    )
    assert native.status_code == 200
    assert native.json == load_bundled().as_document()
    as_case = client.get(
        "/api/v1/frameworks/document",
        query_string={"iri": BUNDLED_IRI, "format": "case", "case_version": "1.0"},
        headers=auditor_headers,
    )
    assert as_case.status_code == 200
    assert as_case.json["CFDocument"]["uri"] == BUNDLED_IRI
    assert "extensions" not in as_case.json


def test_bad_queries_are_400_or_404(client, auditor_headers):
    url = "/api/v1/frameworks/document"
    missing = client.get(url, headers=auditor_headers)
    assert missing.status_code == 400 and missing.json["error"]["field"] == "query.iri"
    bad = client.get(
        url, query_string={"iri": BUNDLED_IRI, "format": "xml"}, headers=auditor_headers
    )
    assert bad.status_code == 400 and bad.json["error"]["field"] == "query.format"
    unknown = client.get(url, query_string={"iri": "https://x.example/f"}, headers=auditor_headers)
    assert unknown.status_code == 404


def test_only_admins_import(client, auditor_headers, admin_headers):
    assert _post(client, auditor_headers, third_party_package()).status_code == 403
    created = _post(client, admin_headers, third_party_package())
    assert created.status_code == 201, created.json
    assert created.json["iri"] == SERVER + DOC_ID
    assert created.json["source"] == "case" and created.json["competencies"] == 5
    same = _post(client, admin_headers, third_party_package())
    assert same.status_code == 200 and same.json["changed"] is False

    exported = client.get(
        "/api/v1/frameworks/document",
        query_string={"iri": SERVER + DOC_ID, "format": "case"},
        headers=admin_headers,
    )
    assert exported.json["CFDocument"]["identifier"] == DOC_ID


def test_conflict_and_replace(client, admin_headers):
    assert _post(client, admin_headers, third_party_package()).status_code == 201
    package = third_party_package()
    package["CFDocument"]["title"] = "Renamed"
    conflict = _post(client, admin_headers, package)
    assert conflict.status_code == 409
    assert _post(client, admin_headers, package, "?replace=true").status_code == 201
    assert _post(client, admin_headers, package, "?replace=maybe").status_code == 400


def test_native_document_import(client, admin_headers):
    document = load_bundled().as_document()
    document["version"] = "1.1"
    response = _post(client, admin_headers, document, "?format=native")
    assert response.status_code == 201, response.json
    assert response.json["source"] == "file" and response.json["roles"] == 3


def test_malformed_bodies_name_item_and_field(client, admin_headers):
    package = third_party_package()
    del package["CFItems"][2]["fullStatement"]
    response = _post(client, admin_headers, package)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "invalid-framework" and error["field"] == "body"
    assert (error["item"], error["item_field"]) == (f"CFItems[2] ({RUN})", "fullStatement")

    document = load_bundled().as_document()
    document["roles"][0]["requirements"][0]["target"] = "https://x.example/none"
    response = _post(client, admin_headers, document)
    assert response.status_code == 422
    assert response.json["error"]["item_field"] == "requirements[0].target"

    assert _post(client, admin_headers, b"{oops").json["error"]["code"] == "malformed-json"
    assert _post(client, admin_headers, b"").json["error"]["code"] == "empty-body"
    assert _post(client, admin_headers, b"[]").json["error"]["code"] == "invalid-framework"
    bad_format = _post(client, admin_headers, {}, "?format=yaml")
    assert bad_format.status_code == 400 and bad_format.json["error"]["field"] == "query.format"
    as_text = client.post(
        "/api/v1/frameworks",
        data=b"{}",
        headers={**admin_headers, "Content-Type": "text/plain"},
    )
    assert as_text.status_code == 415
