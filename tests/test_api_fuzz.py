"""Schemathesis against the generated OpenAPI document, through the WSGI app, as an admin.

Every documented operation gets valid and invalid requests (bodies, query strings, paths) and
each answer is checked with schemathesis's checks: no 5xx, a status the document lists, a body
that matches the documented schema, invalid input refused. A few stored rows (a source, a
quarantined statement, learners with evidence, an imported framework, a mapping draft) let
valid requests reach past "not found". Examples per operation are capped to keep the run near
a minute on CI.

The operations run one after another inside one test (schemathesis's pytest integration does
not work with this pytest); every failing operation is reported, not only the first.
"""

from __future__ import annotations

import threading
import traceback

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from lrs_connector import demo, processing
from lrs_connector.web import openapi
from tests.builders import statement

EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 15}
# A request the document allows may still be refused for its content (docs/api.md): a 422
# that names the field (a framework that is not usable, an unknown template). A 400 may not.
CONFIG = {
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "401", "403", "404", "409", "422"]
        }
    }
}


@pytest.fixture
def known(client, source_headers, engine) -> dict:
    """Stored rows to aim valid requests at: path values that exist."""
    batch = demo.statements()[:60]
    stored = client.post("/xapi/statements", data=orjson.dumps(batch), headers=source_headers)
    assert stored.status_code == 200
    processing.run(engine, batch_size=500, idle_seconds=0.01, stop=threading.Event(), once=True)
    bad = statement(verb={"id": "completed"})
    held = client.post(
        "/forward/statements",
        data=orjson.dumps(bad),
        headers={"Authorization": source_headers["Authorization"]},
    ).json["quarantined"][0]["quarantine_id"]
    return {
        "learner_id": 1,
        "held_id": held,
        "name": "lms",
        "version": 1,
        "statement_id": batch[0]["id"],
    }


@pytest.fixture
def api_schema(app):
    if openapi.bp.name not in app.blueprints:
        app.register_blueprint(openapi.bp)
    config = schemathesis.config.SchemathesisConfig.from_dict(CONFIG)
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)


def _run(operation, mode: GenerationMode, headers: dict, path: dict | None = None) -> None:
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path))
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def run(case):
        case.call_and_validate(headers=headers)

    run()


def test_no_server_errors_and_answers_match_the_document(api_schema, admin_headers, known):
    failures, operations = [], 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        names = [p.name for p in operation.path_parameters]
        runs = [(mode, None) for mode in EXAMPLES]
        if names and all(n in known for n in names):  # and once more, at rows that exist
            runs.append((GenerationMode.POSITIVE, {n: known[n] for n in names}))
        for mode, path in runs:
            try:
                _run(operation, mode, admin_headers, path)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to make invalid (no input)
            except (Exception, BaseExceptionGroup):
                at = f" at {path}" if path else ""
                failures.append(
                    f"--- {operation.method.upper()} {operation.path} ({mode.value}{at})\n"
                    + traceback.format_exc(limit=0)
                )
    assert operations >= 20
    assert not failures, "\n".join(failures)
