"""Native framework documents: every fault names the item and the field."""

from __future__ import annotations

import pytest

from lrs_connector.frameworks.documents import (
    all_problems,
    framework_from_document,
    load_bundled,
    loads,
)
from lrs_connector.frameworks.model import FrameworkError

BASE = "https://lrs-connector.dev/frameworks/lnd-leadership"


def _document() -> dict:
    return load_bundled().as_document()


def _refused(document) -> FrameworkError:
    with pytest.raises(FrameworkError) as caught:
        framework_from_document(document)
    return caught.value


def test_missing_required_field_names_item_and_field():
    document = _document()
    del document["competencies"][1]["name"]
    error = _refused(document)
    assert error.item == f"competencies[1] ({BASE}/competencies/business-strategy-alignment)"
    assert error.field == "name"
    assert "required" in error.message


def test_wrong_type_in_a_nested_requirement():
    document = _document()
    document["roles"][1]["requirements"][3]["proficiency"] = "high"
    error = _refused(document)
    assert error.item == f"roles[1] ({BASE}/roles/director)"
    assert error.field == "requirements[3].proficiency"


def test_unknown_field_and_relative_iri_are_refused():
    document = _document()
    document["dimensions"][0]["colour"] = "blue"
    document["competencies"][0]["iri"] = "competencies/relative"
    problems = {(p.item, p.field) for p in all_problems(document)}
    assert (f"dimensions[0] ({BASE}/dimensions/enterprise-exposure)", "colour") in problems
    assert ("competencies[0] (competencies/relative)", "iri") in problems


def test_broken_references_name_the_item():
    document = _document()
    document["competencies"][1]["parent"] = f"{BASE}/competencies/missing"
    error = _refused(document)
    assert (error.item, error.field) == (document["competencies"][1]["iri"], "parent")

    document = _document()
    document["roles"][0]["requirements"][0]["target"] = f"{BASE}/competencies/missing"
    error = _refused(document)
    assert (error.item, error.field) == (f"{BASE}/roles/training-manager", "requirements[0].target")

    document = _document()
    document["competencies"][1]["dimensions"] = [f"{BASE}/dimensions/missing"]
    assert _refused(document).field == "dimensions"


def test_hierarchy_cycle_and_duplicates_are_refused():
    document = _document()
    first, second = document["competencies"][0], document["competencies"][1]
    first["parent"] = second["iri"]  # second is already a child of first
    assert "cycle" in _refused(document).message

    document = _document()
    document["competencies"][5]["iri"] = document["competencies"][4]["iri"]
    error = _refused(document)
    assert (error.item, error.field) == ("competencies[5]", "iri")

    document = _document()
    document["competencies"][5]["code"] = document["competencies"][4]["code"]
    assert _refused(document).field == "code"


def test_proficiency_outside_the_scale_and_bad_weight():
    document = _document()
    document["roles"][2]["requirements"][0]["proficiency"] = 9
    assert _refused(document).field == "requirements[0].proficiency"

    document = _document()
    document["roles"][2]["requirements"][0]["weight"] = 0
    assert _refused(document).field == "requirements[0].weight"


def test_bounds_and_garbage():
    with pytest.raises(FrameworkError, match="not valid JSON"):
        loads(b"{nope")
    with pytest.raises(FrameworkError, match="JSON object"):
        framework_from_document([1, 2])
    with pytest.raises(FrameworkError, match="bytes accepted"):
        loads(b" " * (10 * 1024 * 1024 + 1))
    document = _document()
    document["competencies"] = []
    assert _refused(document).field == "competencies"


def test_str_is_one_line_naming_item_and_field():
    document = _document()
    document["scale"][1]["value"] = -1
    assert str(_refused(document)).startswith("item scale[1], field value: ")
