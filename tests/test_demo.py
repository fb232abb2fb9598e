"""The demo shows the product: valid xAPI in the bundled profile's vocabulary from two systems,
one learner per person, readiness spread across learners and roles by the real pipeline,
badges for those who earn them, and a summary whose links answer."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from lrs_connector import demo
from lrs_connector.app import create_app
from lrs_connector.mapping import bundled
from lrs_connector.profiles import ProfileSet
from lrs_connector.readiness.report import report
from lrs_connector.store import badges as badge_store
from lrs_connector.store import database, learners, mapping
from lrs_connector.store import readiness as readiness_store
from lrs_connector.store.readiness_tables import readiness_roles
from lrs_connector.xapi.validation import validate_statement

ORDER = ["not ready", "emerging", "developing", "ready"]
TM, DIR, CLO = demo.ROLES["TM"], demo.ROLES["DIR"], demo.ROLES["CLO"]
DIMENSION = "https://lrs-connector.dev/frameworks/lnd-leadership/dimensions/"


@pytest.fixture
def demo_settings(settings):
    return demo.with_demo_settings(settings)


@pytest.fixture
def demo_app(demo_settings, settings):
    """The app as `serve --demo` runs it (badges on through the demo's settings)."""
    app = create_app(demo_settings)
    app.config["TESTING"] = True
    yield app
    app.extensions["lrs_engine"].dispose()
    demo.configure_stores(settings)  # leave the suite's configuration behind


@pytest.fixture
def loaded(demo_app, demo_settings):
    engine = demo_app.extensions["lrs_engine"]
    demo.load(engine, demo_settings, echo=lambda _: None)
    return engine


def _learner(conn, who: str) -> int:
    found = learners.by_alias(conn, demo.account_alias(who))
    assert found is not None, who
    return found


def _levels(engine) -> dict[str, dict[str, tuple[float, str]]]:
    """who → role IRI → (score, level), as processing stored them."""
    with database.read(engine) as conn:
        ids = {_learner(conn, who): who for who in demo.LEARNERS}
        rows = conn.execute(sa.select(readiness_roles)).all()
    out: dict[str, dict[str, tuple[float, str]]] = {}
    for row in rows:
        assert row.learner_id in ids, f"a learner outside the five: {row.learner_id}"
        out.setdefault(ids[row.learner_id], {})[row.role] = (row.score, row.level)
    return out


def _at_least(level: str, floor: str) -> bool:
    return ORDER.index(level) >= ORDER.index(floor)


# -- the statements ---------------------------------------------------------------------------


def test_statements_are_valid_and_each_fits_a_bundled_template():
    profiles = ProfileSet.bundled()
    everything = demo.statements() + demo.workplace_statements()
    assert len({s["id"] for s in everything}) == len(everything) == len(demo.ACTIVITY)
    for statement in everything:
        assert validate_statement(statement, "1.0.3") == [], statement["id"]
        outcome = profiles.match_statement(statement)
        assert outcome.matched, (statement["verb"]["id"], outcome.as_dict())


def test_two_systems_name_several_people_differently():
    by_account = {s["actor"]["account"]["name"] for s in demo.statements()}
    by_email = {s["actor"]["mbox"] for s in demo.workplace_statements()}
    assert by_account == set(demo.LEARNERS)
    assert by_email == {f"mailto:{demo.LEARNERS[who][1]}" for who in demo.IN_WORKPLACE}
    assert len(by_email) >= 3


def test_ids_do_not_depend_on_the_day_timestamps_do():
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC)
    first, later = demo.statements(today), demo.statements(today + timedelta(days=3))
    assert [s["id"] for s in first] == [s["id"] for s in later]
    assert first[0]["timestamp"] != later[0]["timestamp"]
    oldest = min(s["timestamp"] for s in first + demo.workplace_statements(today))
    assert oldest < (today - timedelta(days=480)).isoformat()  # about a year and a half


def test_demo_mapping_is_the_bundled_rules_plus_the_catalogue():
    compiled = mapping.compile_version_text(demo.mapping_text(), demo.MAPPING_SOURCE)
    bundled_rules = mapping.compile_version_text(bundled.bundled_text(), bundled.BUNDLED_SOURCE)
    ids = [rule.id for rule in compiled.rules]
    assert ids[: len(bundled_rules.rules)] == [rule.id for rule in bundled_rules.rules]
    assert len(ids) == len(bundled_rules.rules) + len(demo.catalogue_rules())
    assert demo.mapping_text() == demo.mapping_text()  # stored once, by digest


# -- through the real pipeline ----------------------------------------------------------------


def test_readiness_is_differentiated_and_plausible(loaded):
    levels = _levels(loaded)
    assert set(levels) == set(demo.LEARNERS)
    tm = {who: roles[TM][1] for who, roles in levels.items()}
    director = {who: roles[DIR][1] for who, roles in levels.items()}
    clo = {who: roles[CLO][1] for who, roles in levels.items()}
    assert "ready" in tm.values()
    assert any(_at_least(level, "developing") for level in director.values())
    # a spread: several levels per role, and across the whole table
    assert len(set(tm.values())) >= 3 and len(set(director.values())) >= 2
    assert len(set(clo.values())) >= 2
    assert set(tm.values()) | set(director.values()) | set(clo.values()) == set(ORDER)
    for who, roles in levels.items():
        # the senior role never scores higher than the one below it
        assert roles[TM][0] >= roles[DIR][0] >= roles[CLO][0], who
    # the stories: the new manager trails, the one close to CLO leads every role
    assert min(tm, key=lambda w: levels[w][TM][0]) == "erin"
    for role in (TM, DIR, CLO):
        assert max(levels, key=lambda w: levels[w][role][0]) == "dev"
    assert tm["ben"] == "ready" and _at_least(director["ben"], "developing")


def test_dimensions_and_next_steps_tell_each_story(loaded):
    with database.read(loaded) as conn:
        scorer = readiness_store.scorer(conn)
        activities = readiness_store.activities(conn)
        reports = {
            who: report(scorer, readiness_store.learner_readiness(conn, _learner(conn, who)),
                        activities=activities)
            for who in ("amara", "chloe", "erin")
        }

    def dimensions(who: str) -> dict[str, float]:
        return {d["target"].removeprefix(DIMENSION): d["proficiency"]
                for d in reports[who]["dimensions"]}

    def steps(who: str, role: str) -> list[dict]:
        return next(r for r in reports[who]["roles"] if r["role"] == role)["next_steps"]

    chloe, amara = dimensions("chloe"), dimensions("amara")
    assert chloe["influence"] == max(chloe.values())
    assert chloe["financial-fluency"] == min(chloe.values())
    assert amara["financial-fluency"] == max(amara.values())
    # Chloé's way to director goes through money, and the steps say how to get there
    towards_director = steps("chloe", DIR)
    assert DIMENSION + "financial-fluency" in [s["target"] for s in towards_director[:3]]
    for who, role in (("chloe", DIR), ("erin", TM), ("amara", TM)):
        found = steps(who, role)
        assert found and all(s["gap"] > 0 and s["activities"] for s in found), (who, role)


def test_both_systems_meet_on_one_learner_per_person(loaded):
    with database.read(loaded) as conn:
        listed = learners.listing(conn)
        for who in demo.IN_WORKPLACE:
            learner = _learner(conn, who)
            assert learners.by_alias(conn, demo.email_alias(who)) == learner
            sources = conn.execute(
                sa.text("SELECT DISTINCT alias FROM evidence WHERE learner_id = :l"),
                {"l": learner},
            ).scalars().all()
            assert {a.split(":", 1)[0] for a in sources} == {"account", "mbox"}, who
    assert len(listed) == len(demo.LEARNERS)
    assert all(entry["evidence"] > 0 for entry in listed)


def test_loading_again_stores_nothing_new(loaded, demo_settings):
    def counts() -> dict[str, int]:
        with database.read(loaded) as conn:
            return {
                table: conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
                for table in ("statements", "evidence", "learners", "learner_aliases",
                              "mapping_versions", "readiness_snapshots", "badge_assertions",
                              "sources")
            }

    before = counts()
    lines: list[str] = []
    assert demo.load(loaded, demo_settings, echo=lines.append) == 0
    assert "(0 new)" in lines[0]
    assert counts() == before


def test_badges_go_to_those_who_earn_them(loaded):
    levels = _levels(loaded)
    with database.read(loaded) as conn:
        held = {who: badge_store.assertions(conn, learner_id=_learner(conn, who))
                for who in demo.LEARNERS}
        assert badge_store.pending(conn) == []
    for who, roles in levels.items():
        earned = {(role, level) for role, (_, level) in roles.items()
                  if _at_least(level, "developing")}
        assert {(a["role"], a["level"]) for a in held[who]} >= earned, who
        assert bool(held[who]) == bool(earned), who
    assert {who for who, found in held.items() if found} >= {"ben", "dev"}


def test_summary_links_answer(loaded, demo_app, demo_settings):
    lines = demo.summary(loaded, demo_settings)
    pages = [line.split(": ", 1)[1] for line in lines if "readiness page:" in line]
    badges = [line.split(": ", 1)[1] for line in lines if line.strip().startswith("badge (")]
    assert len(pages) >= 2 and len(badges) >= 2
    client = demo_app.test_client()
    for url in pages + badges:
        assert url.startswith(demo_settings.public_base_url + "/"), url
        response = client.get(urlsplit(url).path)
        assert response.status_code == 200, (url, response.status_code)
    page = client.get(urlsplit(pages[0]).path).get_data(as_text=True)
    assert demo.LEARNERS[demo.SHOWN[0]][0] in page
    assert any("ready" in line for line in lines if "readiness:" in line)


def test_summary_without_badges_says_how_to_turn_them_on(app, engine, settings):
    demo.load(engine, settings, echo=lambda _: None)
    lines = demo.summary(engine, settings)
    assert any("set badges_issuer_email" in line for line in lines)
    assert not any("/badges/assertions/" in line for line in lines)


def test_demo_settings_turn_badges_on_only_when_not_configured(settings):
    overrides = demo.demo_settings_overrides()
    assert overrides["badges_issuer_email"] and overrides["badges_issuer_name"]
    assert demo.with_demo_settings(settings).badges_issuer_email == (
        overrides["badges_issuer_email"]
    )
    from dataclasses import replace

    own = replace(settings, badges_issuer_email="badges@academy.example.org")
    assert demo.with_demo_settings(own) is own


def test_every_statement_gives_evidence_and_the_bundled_rules_miss_only_the_catalogue():
    from lrs_connector.mapping.evidence import derive

    demo_rules = mapping.compile_version_text(demo.mapping_text(), demo.MAPPING_SOURCE)
    bundled_rules = mapping.compile_version_text(bundled.bundled_text(), bundled.BUNDLED_SOURCE)
    everything = demo.statements() + demo.workplace_statements()
    assert any(demo.needs_demo_mapping(s) for s in everything)
    for statement in everything:
        assert derive(statement, demo_rules, 2)[1], statement["object"]["id"]
        missed = not derive(statement, bundled_rules, 1)[1]
        assert missed == demo.needs_demo_mapping(statement), statement["object"]["id"]
