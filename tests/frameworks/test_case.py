"""1EdTech CASE exchange: round trips keep identifiers and hierarchy; faults name item+field."""

from __future__ import annotations

import json

import pytest

from lrs_connector.frameworks import case
from lrs_connector.frameworks.documents import framework_from_document, load_bundled
from lrs_connector.frameworks.model import FrameworkError, Link
from tests.frameworks.packages import (
    AREA,
    DEBRIEF,
    DOC_ID,
    EXTERNAL,
    OTHER_AREA,
    PLAN,
    RUN,
    SERVER,
    third_party_package,
    without_timestamps,
)

REQUIRED = {
    "CFDocument": {"identifier", "uri", "creator", "title", "lastChangeDateTime"},
    "CFItems": {"identifier", "fullStatement", "uri", "lastChangeDateTime"},
    "CFAssociations": {
        "identifier",
        "associationType",
        "uri",
        "originNodeURI",
        "destinationNodeURI",
        "lastChangeDateTime",
    },
}


def _through_json(value):
    return json.loads(json.dumps(value))


def test_bundled_framework_survives_case_1_1_and_back():
    framework = load_bundled()
    package = _through_json(case.package_from_framework(framework))
    assert package["CFDocument"]["caseVersion"] == "1.1"
    back = case.framework_from_package(package)
    assert back.competencies == framework.competencies
    assert back.dimensions == framework.dimensions
    assert back.scale == framework.scale
    assert back.roles == framework.roles
    assert (back.iri, back.version, back.name) == (framework.iri, framework.version, framework.name)
    again = case.package_from_framework(back)
    assert without_timestamps(again) == without_timestamps(package)


def test_exported_package_has_every_field_case_requires():
    package = case.package_from_framework(load_bundled())
    assert REQUIRED["CFDocument"] <= set(package["CFDocument"])
    for key in ("CFItems", "CFAssociations"):
        for entry in package[key]:
            assert REQUIRED[key] <= set(entry), entry
    for association in package["CFAssociations"]:
        for end in ("originNodeURI", "destinationNodeURI"):
            assert set(association[end]) == {"title", "identifier", "uri"}
    identifiers = [i["identifier"] for i in package["CFItems"] + package["CFAssociations"]]
    assert len(set(identifiers)) == len(identifiers)


def test_dimensions_are_items_related_to_the_competencies_that_feed_them():
    package = case.package_from_framework(load_bundled())
    dimension_items = [i for i in package["CFItems"] if i["CFItemType"] == "Dimension"]
    assert len(dimension_items) == 4
    related = [a for a in package["CFAssociations"] if a["associationType"] == "isRelatedTo"]
    tagged = {a["destinationNodeURI"]["uri"] for a in related}
    assert tagged == {i["uri"] for i in dimension_items}


def test_case_1_0_export_drops_roles_only():
    framework = load_bundled()
    package = _through_json(case.package_from_framework(framework, case_version="1.0"))
    assert "caseVersion" not in package["CFDocument"]
    assert "extensions" not in package
    back = case.framework_from_package(package)
    assert back.roles == {}
    assert back.competencies == framework.competencies
    assert back.scale == framework.scale


def test_third_party_package_imports_with_identifiers_and_hierarchy():
    framework = case.framework_from_package(third_party_package())
    assert framework.iri == SERVER + DOC_ID
    assert framework.version == "2025.1"
    assert [c.iri for c in framework.roots()] == [SERVER + AREA, SERVER + OTHER_AREA]
    assert [c.code for c in framework.children(SERVER + AREA)] == ["F.1", "F.2", DEBRIEF]
    plan = framework.competencies[SERVER + PLAN]
    assert (plan.name, plan.kind) == ("Session planning", "Skill")
    assert plan.description.startswith("Plans a session")
    run = framework.competencies[SERVER + RUN]
    assert (run.name, run.description) == ("Keeps a group engaged and on time.", "")
    assert Link(SERVER + DEBRIEF, "isChildOf", SERVER + OTHER_AREA) in framework.links
    assert Link(SERVER + RUN, "isRelatedTo", SERVER + PLAN) in framework.links
    external = "https://other.example.net/uri/" + EXTERNAL
    assert Link(SERVER + PLAN, "exactMatchOf", external) in framework.links


def test_third_party_round_trip_keeps_identifiers_uris_and_associations():
    original = third_party_package()
    framework = case.framework_from_package(original)
    # Stored as a native document in between, as the connector does.
    framework = framework_from_document(_through_json(framework.as_document()))
    exported = _through_json(case.package_from_framework(framework, case_version="1.0"))

    assert exported["CFDocument"]["identifier"] == DOC_ID
    assert exported["CFDocument"]["creator"] == "Example Workforce Board"
    items = {i["identifier"]: i for i in exported["CFItems"]}
    for item in original["CFItems"]:
        mine = items[item["identifier"]]
        assert mine["uri"] == item["uri"]
        assert mine["fullStatement"] == item["fullStatement"]
        assert mine.get("humanCodingScheme") == item.get("humanCodingScheme")
        assert mine.get("abbreviatedStatement") == item.get("abbreviatedStatement")
        assert mine["CFItemType"] == item["CFItemType"]
    skill = next(i for i in exported["CFItems"] if i["CFItemType"] == "Skill")
    assert skill["CFItemTypeURI"]["identifier"] == "e0000000-0000-4000-8000-000000000001"

    def relations(package):
        return {
            (
                a["identifier"],
                a["uri"],
                a["associationType"],
                a["originNodeURI"]["identifier"],
                a["destinationNodeURI"]["identifier"],
                a["destinationNodeURI"]["uri"],
            )
            for a in package["CFAssociations"]
        }

    assert relations(exported) == relations(original)
    assert case.framework_from_package(exported).competencies == framework.competencies


def _refused(package) -> FrameworkError:
    with pytest.raises(FrameworkError) as caught:
        case.framework_from_package(package)
    return caught.value


def test_missing_cfdocument_and_not_an_object():
    package = third_party_package()
    del package["CFDocument"]
    assert _refused(package).field == "CFDocument"
    assert "JSON object" in _refused([1]).message


def test_item_without_full_statement_names_the_item():
    package = third_party_package()
    del package["CFItems"][2]["fullStatement"]
    error = _refused(package)
    assert (error.item, error.field) == (f"CFItems[2] ({RUN})", "fullStatement")
    assert str(error) == f"item CFItems[2] ({RUN}), field fullStatement: is required"


def test_bad_identifier_uri_and_association_type():
    package = third_party_package()
    package["CFItems"][1]["identifier"] = "not-a-uuid"
    error = _refused(package)
    assert (error.item, error.field) == ("CFItems[1] (not-a-uuid)", "identifier")

    package = third_party_package()
    package["CFItems"][1]["uri"] = "relative/path"
    assert _refused(package).field == "uri"

    package = third_party_package()
    package["CFAssociations"][3]["associationType"] = "isCousinOf"
    error = _refused(package)
    assert error.item.startswith("CFAssociations[3] (")
    assert error.field == "associationType"

    package = third_party_package()
    del package["CFAssociations"][0]["destinationNodeURI"]["identifier"]
    assert _refused(package).field == "destinationNodeURI.identifier"


def test_child_of_a_node_outside_the_package_is_refused():
    package = third_party_package()
    package["CFAssociations"][1]["destinationNodeURI"] = {
        "title": "elsewhere",
        "identifier": "f0000000-0000-4000-8000-000000000000",
        "uri": "https://elsewhere.example/x",
    }
    error = _refused(package)
    assert error.item.startswith("CFAssociations[1] (")
    assert error.field == "destinationNodeURI"


def test_mismatched_node_reference_and_duplicates():
    package = third_party_package()
    package["CFAssociations"][2]["originNodeURI"]["uri"] = SERVER + PLAN
    assert _refused(package).field == "originNodeURI.uri"

    package = third_party_package()
    package["CFItems"][3]["identifier"] = package["CFItems"][2]["identifier"]
    error = _refused(package)
    assert (error.item, error.field) == (f"CFItems[3] ({RUN})", "identifier")


def test_hierarchy_cycle_is_refused():
    package = third_party_package()
    package["CFAssociations"][0] = {
        **package["CFAssociations"][0],
        "destinationNodeURI": {"title": "x", "identifier": PLAN, "uri": SERVER + PLAN},
    }
    assert "cycle" in _refused(package).message


def test_invalid_roles_extension_names_the_role():
    package = _through_json(case.package_from_framework(load_bundled()))
    package["extensions"]["lrsConnector"]["roles"][1]["requirements"][0]["weight"] = "heavy"
    error = _refused(package)
    assert error.item.startswith("extensions.lrsConnector.roles[1] (")
    assert error.field == "requirements[0].weight"

    package = _through_json(case.package_from_framework(load_bundled()))
    package["extensions"]["lrsConnector"]["roles"][0]["requirements"][0]["target"] = (
        "https://elsewhere.example/competency"
    )
    assert _refused(package).field == "requirements[0].target"


def test_sizes_are_bounded():
    package = third_party_package()
    package["CFItems"] = package["CFItems"] * 2_000
    error = _refused(package)
    assert error.field == "CFItems"
    with pytest.raises(FrameworkError, match="bytes accepted"):
        case.loads(b" " * (10 * 1024 * 1024 + 1))


def test_long_external_titles_and_uris_survive_storage_as_a_native_document():
    package = third_party_package()
    package["CFAssociations"][7]["destinationNodeURI"]["title"] = "t" * 5_000
    package["CFAssociations"][7]["destinationNodeURI"]["uri"] = "https://o.example/" + "u" * 2_000
    framework = case.framework_from_package(package)
    assert framework_from_document(_through_json(framework.as_document())) == framework


def test_deeply_nested_json_is_refused_cleanly():
    with pytest.raises(FrameworkError):
        case.loads(b"[" * 200_000 + b"]" * 200_000)
