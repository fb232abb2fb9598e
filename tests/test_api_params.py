"""One way to read admin-API input (web/params.py): errors name the field, lists page with
opaque cursors, and pages followed through `next` give every row once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Blueprint

from lrs_connector.mapping import bundled
from lrs_connector.store import database
from lrs_connector.store import mapping as mapping_store
from lrs_connector.store.holders import SOURCES
from lrs_connector.web import params
from lrs_connector.web.errors import ApiError


def _add_sources(engine, names):
    with database.write(engine) as conn:
        for name in names:
            SOURCES.add(conn, name)


def _follow(client, url, headers, key):
    seen, pages = [], 0
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.json
        [rows] = [v for k, v in response.json.items() if k not in ("next", "next_cursor")]
        seen += [row[key] for row in rows]
        url = response.json["next"]
        assert (url is None) == (response.json["next_cursor"] is None)
        pages += 1
    return seen, pages


def test_sources_page_by_cursor_and_every_one_comes_once(client, engine, auditor_headers):
    names = [f"lrs-{i:02d}" for i in range(7)]
    _add_sources(engine, reversed(names))
    seen, pages = _follow(client, "/api/v1/sources?limit=3", auditor_headers, "name")
    assert seen == names and pages == 3
    whole = client.get("/api/v1/sources", headers=auditor_headers).json
    assert [s["name"] for s in whole["sources"]] == names
    assert whole["next"] is None and "secret" not in whole["sources"][0]


def test_frameworks_and_versions_page_too(client, engine, auditor_headers):
    with database.write(engine) as conn:
        for n in range(3):
            text = bundled.bundled_text() + f"# copy {n}\n"
            mapping_store.import_version(conn, text, f"copy-{n}.yaml", datetime.now(UTC))
    first = client.get("/api/v1/frameworks?limit=1", headers=auditor_headers).json
    assert len(first["frameworks"]) == 1 and first["frameworks"][0]["source"] == "bundled"
    assert first["next_cursor"] is None  # the bundled framework is the only one
    versions, _ = _follow(client, "/api/v1/mapping/versions?limit=1", auditor_headers, "version")
    assert len(versions) == 3 and versions == sorted(versions)


@pytest.mark.parametrize(
    ("query", "status", "code", "field"),
    [
        ({"limit": "0"}, 400, "invalid-parameter", "query.limit"),
        ({"limit": "501"}, 400, "invalid-parameter", "query.limit"),
        ({"limit": "many"}, 400, "invalid-parameter", "query.limit"),
        ({"after": "3"}, 400, "unknown-parameter", "query.after"),
        ({"cursor": "not-a-cursor"}, 422, "invalid-cursor", "query.cursor"),
        ({"cursor": params.encode_cursor("learners", 3)}, 422, "invalid-cursor", "query.cursor"),
        ({"cursor": params.encode_cursor("sources", 3)}, 422, "invalid-cursor", "query.cursor"),
    ],
)
def test_query_errors_name_the_parameter(client, auditor_headers, query, status, code, field):
    response = client.get("/api/v1/sources", query_string=query, headers=auditor_headers)
    assert response.status_code == status
    error = response.json["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]


def test_unknown_and_repeated_parameters_are_named(client, auditor_headers):
    response = client.get("/api/v1/quarantine?satus=held&lmit=3", headers=auditor_headers)
    assert response.status_code == 400
    assert response.json["error"]["message"] == "unknown parameter lmit, satus"
    twice = client.get("/api/v1/quarantine?limit=3&limit=4", headers=auditor_headers)
    assert twice.status_code == 400 and twice.json["error"]["field"] == "query.limit"
    # An operation that takes no query refuses any.
    one = client.get("/api/v1/quarantine/1?verbose=1", headers=auditor_headers)
    assert one.status_code == 400 and one.json["error"]["field"] == "query.verbose"


def test_body_errors_name_the_field(client, admin_headers):
    url = "/api/v1/sources"
    cases = [
        ({"description": "x"}, 400, "missing-field", "body.name"),
        ({"name": 3}, 400, "invalid-field", "body.name"),
        ({"name": "a", "colour": "red"}, 400, "unknown-field", "body.colour"),
        ({"name": "a" * 101}, 400, "invalid-field", "body.name"),
        ({"name": "   "}, 422, "invalid-source", "body.name"),
    ]
    for body, status, code, field in cases:
        response = client.post(url, json=body, headers=admin_headers)
        assert response.status_code == status, body
        assert (response.json["error"]["code"], response.json["error"]["field"]) == (code, field)
    created = client.post(url, json={"name": "lrs"}, headers=admin_headers)
    assert created.status_code == 201 and created.json["secret"]
    again = client.post(url, json={"name": "lrs"}, headers=admin_headers)
    assert again.status_code == 409 and again.json["error"]["field"] == "body.name"


def test_body_syntax_and_media_type(client, admin_headers):
    url = "/api/v1/sources"
    plain = {**admin_headers, "Content-Type": "text/plain"}
    assert client.post(url, data=b'{"name": "a"}', headers=plain).status_code == 415
    as_json = {**admin_headers, "Content-Type": "application/json"}
    malformed = client.post(url, data=b'{"name": ', headers=as_json)
    assert (malformed.status_code, malformed.json["error"]["code"]) == (400, "malformed-json")
    empty = client.post(url, data=b"", headers=as_json)
    assert (empty.status_code, empty.json["error"]["code"]) == (400, "empty-body")
    listed = client.post(url, data=b"[]", headers=as_json)
    assert (listed.json["error"]["code"], listed.json["error"]["field"]) == ("invalid-body", "body")


def test_nested_fields_and_every_problem_are_reported(client, admin_headers):
    response = client.post(
        "/api/v1/learners/1/split", json={"aliases": ["mbox:a@example.org", 7, 8]},
        headers=admin_headers,
    )
    assert response.status_code == 400
    error = response.json["error"]
    assert error["field"] == "body.aliases[1]"
    assert [p["field"] for p in error["problems"]] == ["body.aliases[1]", "body.aliases[2]"]


def test_path_values_are_bounded(client, auditor_headers, admin_headers):
    huge = 2**64
    response = client.get(f"/api/v1/learners/{huge}", headers=auditor_headers)
    assert response.status_code == 400 and response.json["error"]["field"] == "path.learner_id"
    response = client.post(f"/api/v1/quarantine/{huge}/discard", headers=admin_headers)
    assert response.status_code == 400 and response.json["error"]["field"] == "path.held_id"
    response = client.post("/api/v1/mapping/versions/0/whatif", headers=auditor_headers)
    assert response.status_code == 400 and response.json["error"]["field"] == "path.version"


def test_access_is_checked_before_input(client, auditor_headers):
    assert client.post("/api/v1/sources", data=b"{", headers=auditor_headers).status_code == 403
    assert client.get("/api/v1/sources?limit=0").status_code == 401


def test_the_decorator_passes_loaded_input_and_records_the_operation(app, admin_headers):
    from marshmallow import fields

    class Query(params.StrictSchema):
        n = fields.Integer(load_default=1)

    class Body(params.StrictSchema):
        flag = params.StrictBoolean(required=True)

    bp = Blueprint("probe", __name__, url_prefix="/probe")

    @bp.post("/<int:item>")
    @params.operation(query=Query, body=Body, responses={200: None}, errors=(404,))
    def probe(item, query, body):
        """Probe the decorator.

        Longer text."""
        if item == 0:
            raise ApiError(404, "not-found", "no item 0", "path.item")
        return {"item": item, "n": query["n"], "flag": body["flag"]}

    app.register_blueprint(bp)
    client = app.test_client()
    assert client.post("/probe/2?n=5", json={"flag": True}).json == {
        "item": 2, "n": 5, "flag": True
    }
    assert client.post("/probe/2", json={"flag": 1}).json["error"]["field"] == "body.flag"
    assert client.post("/probe/0", json={"flag": False}).status_code == 404
    meta = app.view_functions["probe.probe"].api
    assert (meta.summary, meta.description, meta.errors) == (
        "Probe the decorator", "Longer text.", (404,)
    )


def test_text_the_databases_cannot_store_is_refused(client, admin_headers):
    for path in ("/api/v1/lms/unresolved?target=a%00b", "/api/v1/frameworks/document?iri=x%00"):
        answer = client.get(path, headers=admin_headers)
        assert answer.status_code == 422 and answer.get_json()["error"]["code"] == "invalid-text"
    body = client.post("/api/v1/outbox/retry", json={"target": "a\u0000", "status": "dead"},
                       headers=admin_headers)
    assert body.status_code == 422
    assert body.get_json()["error"] == {"code": "invalid-text", "field": "body.target",
                                        "message": "body.target: text must not contain NUL "
                                                   "characters"}


def test_ids_and_cursors_beyond_a_column_are_refused_not_crashed(client, admin_headers):
    from lrs_connector.web.params import encode_cursor

    assert client.get("/api/v1/quarantine/2338943293012",
                      headers=admin_headers).status_code == 400
    forged = encode_cursor("quarantine", 2**40)
    assert client.get(f"/api/v1/quarantine?cursor={forged}",
                      headers=admin_headers).status_code == 422
    nul = encode_cursor("sources", "a\x00")
    assert client.get(f"/api/v1/sources?cursor={nul}", headers=admin_headers).status_code == 422
