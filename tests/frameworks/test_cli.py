"""``lrs-connector frameworks``: import, export and list through the click group."""

from __future__ import annotations

import json

from lrs_connector.frameworks import case
from lrs_connector.frameworks.cli import frameworks
from lrs_connector.frameworks.documents import BUNDLED_IRI, load_bundled
from tests.frameworks.packages import DOC_ID, RUN, SERVER, third_party_package


def test_import_list_export_case_package(runner, tmp_path):
    path = tmp_path / "facilitation.json"
    path.write_text(json.dumps(third_party_package()))
    result = runner.invoke(frameworks, ["import", str(path)])
    assert result.exit_code == 0, result.output
    assert f"imported {SERVER + DOC_ID} version 2025.1 (5 competencies" in result.output
    assert "source case" in result.output

    again = runner.invoke(frameworks, ["import", str(path), "--format", "case"])
    assert again.exit_code == 0 and "unchanged" in again.output

    listed = runner.invoke(frameworks, ["list", "--json"])
    assert listed.exit_code == 0
    assert {e["iri"] for e in json.loads(listed.output)} == {BUNDLED_IRI, SERVER + DOC_ID}

    out = tmp_path / "out.json"
    exported = runner.invoke(
        frameworks, ["export", SERVER + DOC_ID, "--format", "case", "-o", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    package = json.loads(out.read_text())
    assert package["CFDocument"]["identifier"] == DOC_ID
    assert case.framework_from_package(package).competencies.keys() == {
        i["uri"] for i in third_party_package()["CFItems"]
    }


def test_export_bundled_native_and_reimport_it(runner, tmp_path):
    result = runner.invoke(frameworks, ["export", BUNDLED_IRI])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == load_bundled().as_document()
    path = tmp_path / "ours.json"
    path.write_text(result.output)
    imported = runner.invoke(frameworks, ["import", str(path), "--format", "native"])
    assert imported.exit_code == 0, imported.output
    assert "31 competencies, 4 dimensions, 3 roles, source file" in imported.output
    listed = runner.invoke(frameworks, ["list"])
    assert listed.output.count(BUNDLED_IRI) == 1 and "\tfile\t" in listed.output


def test_malformed_package_is_a_one_line_error_naming_item_and_field(runner, tmp_path):
    package = third_party_package()
    del package["CFItems"][2]["fullStatement"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(package))
    result = runner.invoke(frameworks, ["import", str(path)])
    assert result.exit_code == 1
    line = result.output.strip()
    assert "\n" not in line
    assert line == f"Error: {path}: item CFItems[2] ({RUN}), field fullStatement: is required"


def test_conflicting_import_and_unknown_export_fail(runner, tmp_path):
    package = third_party_package()
    path = tmp_path / "a.json"
    path.write_text(json.dumps(package))
    assert runner.invoke(frameworks, ["import", str(path)]).exit_code == 0
    package["CFDocument"]["title"] = "Renamed"
    path.write_text(json.dumps(package))
    conflict = runner.invoke(frameworks, ["import", str(path)])
    assert conflict.exit_code == 1 and "--replace" in conflict.output
    assert runner.invoke(frameworks, ["import", str(path), "--replace"]).exit_code == 0

    missing = runner.invoke(frameworks, ["export", "https://unknown.example/f"])
    assert missing.exit_code == 1
    assert "no framework https://unknown.example/f" in missing.output

    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    result = runner.invoke(frameworks, ["import", str(garbage)])
    assert result.exit_code == 1 and "not valid JSON" in result.output
