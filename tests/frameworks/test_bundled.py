"""The bundled L&D leadership framework: structure, references, and our own identifiers."""

from __future__ import annotations

import pytest

from lrs_connector.frameworks.documents import BUNDLED_IRI, framework_from_document, load_bundled
from lrs_connector.frameworks.model import Competency

BASE = "https://lrs-connector.dev/frameworks/lnd-leadership"
DIMENSIONS = ("enterprise-exposure", "influence", "financial-fluency", "championing-change")


@pytest.fixture(scope="module")
def framework():
    return load_bundled()


def test_seven_responsibilities_with_two_competencies_each(framework):
    responsibilities = [c for c in framework.roots() if c.kind == "responsibility"]
    assert len(responsibilities) == 7
    assert responsibilities[0].iri == f"{BASE}/competencies/strategic-alignment"
    for responsibility in responsibilities:
        children = framework.children(responsibility.iri)
        assert len(children) == 2
        assert {c.kind for c in children} == {"competency"}


def test_24_competencies_14_core_and_10_foundational(framework):
    leaves = [c for c in framework.competencies.values() if c.kind != "responsibility"]
    assert len(leaves) == 24
    foundational = [c for c in leaves if c.kind == "foundational"]
    assert len(foundational) == 10
    assert all(c.parent is None for c in foundational)
    assert {c.iri.rsplit("/", 1)[1] for c in foundational} >= {
        "integrity-honesty",
        "business-acumen",
        "change-management",
    }


def test_four_dimensions_each_fed_by_competencies(framework):
    assert list(framework.dimensions) == [f"{BASE}/dimensions/{d}" for d in DIMENSIONS]
    for iri in framework.dimensions:
        assert len(framework.competencies_of(iri)) >= 2, iri


def test_every_node_has_our_iri_a_unique_code_and_a_description(framework):
    nodes: list = [*framework.competencies.values(), *framework.dimensions.values()]
    assert len({n.code for n in nodes}) == len(nodes)
    for node in nodes:
        assert node.iri.startswith(BASE + "/")
        assert node.name and len(node.description) > 40
    for competency in framework.competencies.values():
        assert isinstance(competency, Competency)
        assert competency.iri.startswith(f"{BASE}/competencies/")


def test_three_roles_whose_requirements_point_at_existing_targets(framework):
    assert list(framework.roles) == [
        f"{BASE}/roles/training-manager",
        f"{BASE}/roles/director",
        f"{BASE}/roles/clo",
    ]
    levels = framework.levels
    for role in framework.roles.values():
        assert role.requirements
        for requirement in role.requirements:
            assert framework.target(requirement.target) is not None
            assert requirement.proficiency in levels
            assert requirement.weight > 0


def test_senior_roles_weigh_the_dimensions_more(framework):
    def dimension_share(role_iri: str) -> float:
        role = framework.roles[role_iri]
        total = sum(q.weight for q in role.requirements)
        return sum(q.weight for q in role.requirements if q.target in framework.dimensions) / total

    manager = dimension_share(f"{BASE}/roles/training-manager")
    director = dimension_share(f"{BASE}/roles/director")
    clo = dimension_share(f"{BASE}/roles/clo")
    assert manager < director < clo


def test_scale_runs_from_none_to_leading(framework):
    assert [(lv.value, lv.name) for lv in framework.scale] == [
        (0, "none"),
        (1, "foundational"),
        (2, "practising"),
        (3, "proficient"),
        (4, "leading"),
    ]


def test_native_document_round_trip(framework):
    assert framework.iri == BUNDLED_IRI
    assert framework_from_document(framework.as_document()) == framework


def test_hierarchy_helpers(framework):
    top = f"{BASE}/competencies/strategic-alignment"
    assert [c.code for c in framework.descendants(top)] == ["SA.1", "SA.2"]
    assert framework.target(f"{BASE}/dimensions/influence").name == "Influence outside L&D"
    assert framework.target(f"{BASE}/nope") is None
