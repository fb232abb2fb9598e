"""The framework in force: the latest stored version of the configured IRI replaces the bundled
framework for mapping and readiness in every process; one that would leave the published
mapping rules pointing at nothing, or that has no roles, is refused."""

from __future__ import annotations

import copy
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import sqlalchemy as sa

from lrs_connector import demo, doctor, processing
from lrs_connector.frameworks.cli import frameworks as frameworks_cli
from lrs_connector.frameworks.documents import BUNDLED_IRI, load_bundled
from lrs_connector.mapping import MappingError
from lrs_connector.mapping import bundled as bundled_mapping
from lrs_connector.readiness.cli import readiness as readiness_cli
from lrs_connector.store import database, frameworks
from lrs_connector.store import mapping as mapping_store
from lrs_connector.store import readiness as readiness_store

NEW = f"{BUNDLED_IRI}/competencies/board-reporting"


@pytest.fixture(autouse=True)
def _bundled_iri():
    """Tests that configure another IRI put the default back."""
    yield
    frameworks.configure("")


def _document(**changes) -> dict:
    """The bundled framework's document as version 1.1, with top-level properties replaced."""
    document = copy.deepcopy(load_bundled().as_document())
    document["version"] = "1.1"
    document.update(changes)
    return document


def _import(client, headers, document: dict):
    return client.post("/api/v1/frameworks", data=orjson.dumps(document),
                       headers={**headers, "Content-Type": "application/json"})


def _scores(client, headers, learner: int) -> dict:
    data = client.get(f"/api/v1/learners/{learner}/readiness", headers=headers).get_json()
    return {"framework": data["framework"]["version"],
            **{r["code"]: r["score"] for r in data["roles"]}}


def test_the_bundled_framework_is_in_force_until_a_version_of_its_iri_is_imported(engine):
    with database.read(engine) as conn:
        assert frameworks.in_force(conn) is load_bundled()
        assert readiness_store.scorer(conn).framework is load_bundled()


def test_an_imported_version_is_scored_after_a_recompute(
    client, admin_headers, auditor_headers, demo_loaded, runner, engine
):
    learner = demo_loaded[-1]
    before = _scores(client, auditor_headers, learner)
    assert before["framework"] == load_bundled().version
    easier = _document()
    tm = next(r for r in easier["roles"] if r["code"] == "ROLE.TM")
    for requirement in tm["requirements"]:
        requirement["proficiency"] = 1
    assert _import(client, admin_headers, easier).status_code == 201

    with database.read(engine) as conn:
        assert frameworks.in_force(conn).version == "1.1"
    shown = _scores(client, auditor_headers, learner)  # scored from the stored cells at once
    assert shown["framework"] == "1.1" and shown["ROLE.TM"] > before["ROLE.TM"]
    assert shown["ROLE.DIR"] == before["ROLE.DIR"]

    done = runner.invoke(readiness_cli, ["recompute"])
    assert done.exit_code == 0, done.output
    with database.read(engine) as conn:
        stored = conn.execute(sa.text(
            "SELECT score FROM readiness_roles WHERE learner_id = :l AND role = :r"
        ), {"l": learner, "r": tm["iri"]}).scalar_one()
    assert round(stored, 1) == round(shown["ROLE.TM"], 1)


def test_the_latest_import_is_in_force_when_an_earlier_one_had_a_clock_ahead(
    client, admin_headers, engine
):
    assert _import(client, admin_headers, _document()).status_code == 201
    ahead = datetime.now(UTC) + timedelta(hours=1)  # imported on a machine an hour fast
    with database.write(engine) as conn:
        conn.execute(frameworks.frameworks.update().values(imported_at=ahead))
    assert _import(client, admin_headers, _document(version="1.2")).status_code == 201
    with database.read(engine) as conn:
        assert frameworks.in_force(conn).version == "1.2"
        stored = {f.version: f.imported_at for f in frameworks.list_frameworks(conn)}
    assert stored["1.2"] > stored["1.1"] == ahead


def test_rules_may_name_what_only_the_framework_in_force_has(
    client, admin_headers, engine, runner, tmp_path
):
    rules = bundled_mapping.bundled_text().replace(
        "competencies/business-acumen", "competencies/board-reporting", 1
    )
    assert NEW in rules
    with database.write(engine) as conn, pytest.raises(MappingError, match="board-reporting"):
        mapping_store.import_version(conn, rules, "rules.yaml", datetime.now(UTC))

    document = _document()
    acumen = next(c for c in document["competencies"] if c["iri"].endswith("business-acumen"))
    document["competencies"].append(
        {**acumen, "iri": NEW, "code": "FL.11", "name": "Board reporting"}
    )
    assert _import(client, admin_headers, document).status_code == 201
    with database.write(engine) as conn:
        version = mapping_store.import_version(conn, rules, "rules.yaml", datetime.now(UTC))
        assert NEW in mapping_store.mapper(conn, version).targets()
    file = tmp_path / "rules.yaml"
    file.write_text(rules)
    from lrs_connector.mapping.cli import mapping as mapping_cli

    checked = runner.invoke(mapping_cli, ["check", str(file)])
    assert checked.exit_code == 0, checked.output


def test_a_framework_lacking_a_published_target_or_roles_is_refused(
    client, admin_headers, demo_loaded, engine, runner, tmp_path
):
    with database.read(engine) as conn:
        named = mapping_store.mapper(conn, mapping_store.published_version(conn)).targets()
    document = _document()
    gone = next(c for c in document["competencies"] if c["iri"] in named and c["parent"])
    document["competencies"].remove(gone)
    for role in document["roles"]:
        role["requirements"] = [q for q in role["requirements"] if q["target"] != gone["iri"]]
    refused = _import(client, admin_headers, document)
    assert refused.status_code == 409, refused.get_json()
    assert refused.json["error"]["code"] == "framework-not-usable"
    assert gone["iri"] in refused.json["error"]["message"]

    without_roles = _document(roles=[])
    refused = _import(client, admin_headers, without_roles)
    assert refused.status_code == 409 and "no roles" in refused.json["error"]["message"]
    file = tmp_path / "framework.json"
    file.write_bytes(orjson.dumps(without_roles))
    by_cli = runner.invoke(frameworks_cli, ["import", str(file)])
    assert by_cli.exit_code == 1 and "no roles" in by_cli.output

    with database.read(engine) as conn:
        assert frameworks.in_force(conn) is load_bundled()
        assert [f.version for f in frameworks.list_frameworks(conn)] == [load_bundled().version]
    # a framework under another IRI is not in force: nothing to check
    other = _document(iri="https://example.org/frameworks/ours", roles=[])
    assert _import(client, admin_headers, other).status_code == 201


def test_framework_iri_chooses_another_framework(client, admin_headers, engine, settings):
    ours = "https://example.org/frameworks/ours"
    frameworks.configure(ours)
    with database.read(engine) as conn:
        assert frameworks.in_force(conn) is load_bundled()
    found = {f.check: f for f in doctor.examine(replace(settings, framework_iri=ours), engine)}
    assert not found["framework"].ok and "not imported" in found["framework"].message

    assert _import(client, admin_headers, _document(iri=ours, name="Ours")).status_code == 201
    with database.read(engine) as conn:
        assert frameworks.in_force(conn).iri == ours
        assert readiness_store.scorer(conn).framework.name == "Ours"


def _without(document: dict, slug: str) -> dict:
    """``document`` without the competency ``slug``, and without the requirements on it."""
    gone = f"{BUNDLED_IRI}/competencies/{slug}"
    document["competencies"] = [c for c in document["competencies"] if c["iri"] != gone]
    for role in document["roles"]:
        role["requirements"] = [q for q in role["requirements"] if q["target"] != gone]
    return document


def test_publishing_rules_the_framework_in_force_lacks_is_refused(client, admin_headers, engine):
    document = _document()
    acumen = next(c for c in document["competencies"] if c["iri"].endswith("business-acumen"))
    document["competencies"].append({**acumen, "iri": NEW, "code": "FL.11", "name": "Board"})
    assert _import(client, admin_headers, document).status_code == 201
    rules = bundled_mapping.bundled_text().replace(
        "competencies/business-acumen", "competencies/board-reporting", 1
    )
    with database.write(engine) as conn:
        draft = mapping_store.import_version(conn, rules, "rules.yaml", datetime.now(UTC))
    # nothing is published yet, so a framework without the draft's target may come in force
    smaller = _document(version="1.2")
    assert _import(client, admin_headers, smaller).status_code == 201
    with database.write(engine) as conn, pytest.raises(mapping_store.VersionError, match=NEW):
        mapping_store.publish_version(conn, draft, datetime.now(UTC))


def test_with_a_framework_the_bundled_rules_do_not_suit_processing_maps_nothing_and_goes_on(
    client, admin_headers, source_headers, engine
):
    ours = "https://example.org/frameworks/ours"
    frameworks.configure(ours)
    document = _without(_document(iri=ours), "business-acumen")
    assert _import(client, admin_headers, document).status_code == 201
    posted = client.post("/xapi/statements", json=demo.statements()[:20], headers=source_headers)
    assert posted.status_code == 200, posted.get_json()
    for _ in range(2):
        while processing.process_batch(engine, 500, handlers=processing.HANDLERS):
            pass
    with database.read(engine) as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM mapping_versions")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM evidence")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM processing_queue")).scalar_one() == 0


def test_switching_to_a_framework_with_an_iri_of_its_own(
    client, admin_headers, auditor_headers, source_headers, demo_loaded, engine, runner, settings,
    tmp_path, monkeypatch,
):
    """docs/frameworks.md's steps: import it, prepare rules against it, put it in force,
    publish with a replay, recompute. Between the last two steps nothing fails."""
    from lrs_connector.mapping.cli import mapping as mapping_cli

    ours = "https://example.org/frameworks/ours"
    document = orjson.loads(orjson.dumps(_document(iri=ours)).replace(
        BUNDLED_IRI.encode(), ours.encode()))
    assert _import(client, admin_headers, document).status_code == 201
    rules = tmp_path / "ours.yaml"
    rules.write_text(bundled_mapping.bundled_text().replace(BUNDLED_IRI, ours))
    refused = runner.invoke(mapping_cli, ["import", str(rules)])  # against the one in force
    assert refused.exit_code != 0 and "framework in force" in refused.output
    drafted = runner.invoke(mapping_cli, ["import", str(rules), "--framework", ours])
    assert drafted.exit_code == 0, drafted.output
    draft = int(drafted.output.split()[2])

    # framework_iri set, the service restarted (the CLI reads it from the environment)
    monkeypatch.setenv("LRS_CONNECTOR_FRAMEWORK_IRI", ours)
    frameworks.configure(ours)
    found = {f.check: f for f in doctor.examine(replace(settings, framework_iri=ours), engine)}
    assert not found["framework"].ok and "names targets it lacks" in found["framework"].message
    fresh = [dict(s, id=str(uuid.uuid4())) for s in demo.statements()[:20]]
    assert client.post("/xapi/statements", json=fresh, headers=source_headers).status_code == 200
    while processing.process_batch(engine, 500, handlers=processing.HANDLERS):
        pass
    learner = demo_loaded[0]
    shown = client.get(f"/api/v1/learners/{learner}/readiness", headers=auditor_headers)
    assert shown.status_code == 200 and shown.json["framework"]["iri"] == ours

    published = runner.invoke(mapping_cli, ["publish", str(draft), "--replay"])
    assert published.exit_code == 0, published.output
    assert runner.invoke(readiness_cli, ["recompute"]).exit_code == 0
    roles = client.get(f"/api/v1/learners/{learner}/readiness", headers=auditor_headers).json
    assert roles["framework"]["iri"] == ours and len(roles["roles"]) == 3
    assert max(r["score"] for r in roles["roles"]) > 0
    with database.read(engine) as conn:
        assert {r.startswith(ours) for r in conn.execute(
            sa.text("SELECT DISTINCT role FROM readiness_roles")).scalars()} == {True}


def test_a_recompute_deletes_the_scores_of_a_removed_role(
    client, admin_headers, demo_loaded, engine, runner
):
    document = _document()
    tm = next(r for r in document["roles"] if r["code"] == "ROLE.TM")
    document["roles"].remove(tm)
    assert _import(client, admin_headers, document).status_code == 201
    with database.read(engine) as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM readiness_roles WHERE role = :r"),
                             {"r": tm["iri"]}).scalar_one()
    assert count > 0
    assert runner.invoke(readiness_cli, ["recompute"]).exit_code == 0
    with database.read(engine) as conn:
        left = conn.execute(sa.text("SELECT DISTINCT role FROM readiness_roles")).scalars().all()
        assert tm["iri"] not in left and len(left) == 2
