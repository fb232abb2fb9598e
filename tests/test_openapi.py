"""The OpenAPI document at /api/v1/openapi.json and the reference page at /api/v1/docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from lrs_connector.web import openapi

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def api(app):
    if openapi.bp.name not in app.blueprints:
        app.register_blueprint(openapi.bp)
    return app


@pytest.fixture
def document(api) -> dict:
    response = api.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json


def test_the_document_is_valid_openapi_3(document):
    validate(document)
    assert document["openapi"].startswith("3.")
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiToken"] == {**schemes["apiToken"], "type": "http", "scheme": "bearer"}
    assert schemes["sourceBasic"]["scheme"] == "basic"


def test_every_api_route_is_in_the_document(api, document):
    """Fails naming each /api/v1 route whose view is not declared with @operation."""
    assert openapi.undocumented_routes(api) == []
    missing = []
    for rule in api.url_map.iter_rules():
        if not rule.rule.startswith(openapi.PREFIX) or rule.endpoint in openapi.UNDOCUMENTED:
            continue
        path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods & METHODS:
            operation = document["paths"].get(path, {}).get(method.lower())
            if operation is None or operation["operationId"] != rule.endpoint:
                missing.append(f"{method} {rule.rule}")
    assert missing == []
    assert len(document["paths"]) >= 20


def test_each_operation_says_who_may_call_it(api, document):
    views = api.view_functions
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            access = views[operation["operationId"]].access
            assert operation["x-access"] == access, (method, path)
            schemes = {name for requirement in operation["security"] for name in requirement}
            if access == "public":
                assert schemes == set()
            if access in ("auditor", "admin"):
                assert schemes == {"apiToken"}
                assert {"401", "403"} <= set(operation["responses"])
            assert operation["description"].startswith("Callers: ")
    sources = document["paths"]["/api/v1/sources"]
    assert (sources["get"]["x-access"], sources["post"]["x-access"]) == ("auditor", "admin")


def test_inputs_and_errors_are_described(document):
    split = document["paths"]["/api/v1/learners/{learner_id}/split"]["post"]
    [learner_id] = split["parameters"]
    assert (learner_id["in"], learner_id["schema"]["type"]) == ("path", "integer")
    body = split["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body == "#/components/schemas/SplitBody"
    assert document["components"]["schemas"]["SplitBody"]["additionalProperties"] is False
    assert split["responses"]["422"] == {"$ref": "#/components/responses/E422"}
    listing = document["paths"]["/api/v1/learners"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"limit", "cursor"}
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 1000
    page = document["components"]["schemas"]["LearnerPage"]
    assert {"learners", "next_cursor", "next"} <= set(page["required"])
    error = document["components"]["schemas"]["Error"]["properties"]["error"]
    assert error["$ref"].endswith("/Detail")
    assert {"code", "message"} <= set(document["components"]["schemas"]["Detail"]["required"])


def test_the_reference_page_is_served_with_its_assets(api):
    client = api.test_client()
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'data-spec-url="/api/v1/openapi.json"' in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) == 4
    for url in assets:
        assert url.startswith("/api/v1/docs/assets/"), url  # nothing from elsewhere
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.data) > 100, url
    bundle = client.get("/api/v1/docs/assets/swagger-ui-bundle.js").get_data(as_text=True)
    assert "SwaggerUIBundle" in bundle
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    license_text = client.get("/api/v1/docs/assets/LICENSE").get_data(as_text=True)
    assert "Apache License" in license_text


def test_schema_names_are_unique():
    """A second class of the same name silently replaces the first for every view using it."""
    import ast
    from collections import Counter

    from lrs_connector.web import schemas

    tree = ast.parse(Path(schemas.__file__).read_text())
    names = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    names += [t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
              if isinstance(t, ast.Name)]
    assert [name for name, count in Counter(names).items() if count > 1] == []
