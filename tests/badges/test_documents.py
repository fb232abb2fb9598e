"""The pure core: hashing, the OB 2.0 documents, and who holds which badge."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from lrs_connector import badges as core
from lrs_connector.badges import documents

LEVELS = (("not ready", 0.0), ("emerging", 25.0), ("developing", 50.0), ("ready", 80.0))
ROLE = "https://example.org/roles/director"
OTHER = "https://example.org/roles/clo"


def config(**changes) -> core.BadgeConfig:
    values = {
        "issuer_name": "Example Academy",
        "issuer_url": "https://academy.example.org",
        "issuer_email": "badges@academy.example.org",
        "issuer_description": "",
        "public_base_url": "https://connector.example.org/",
        "levels": LEVELS,
        "badge_levels": ("developing", "ready"),
    }
    values.update(changes)
    return core.BadgeConfig(**values)


def test_recipient_hash_matches_a_value_computed_elsewhere():
    # printf 'ada@example.orgdeadbeef' | sha256sum
    expected = "sha256$de98540c843f1128610e8935f43437d306b92bfbfd816740901d342b6375a518"
    assert core.hash_email("ada@example.org", "deadbeef") == expected
    assert core.hash_email("ada@example.org", "deadbeeg") != expected


def test_salts_are_random_and_long_enough():
    salts = {core.new_salt() for _ in range(100)}
    assert len(salts) == 100 and all(re.fullmatch(r"[0-9a-f]{32}", s) for s in salts)


def test_email_comes_only_from_mbox_aliases():
    assert core.email_from_alias("mbox:ada@example.org") == "ada@example.org"
    assert core.email_from_alias("mbox_sha1sum:" + "a" * 40) is None
    assert core.email_from_alias("account:https://lms|ada") is None
    assert core.email_from_alias("mbox:sha256:" + "b" * 64) is None
    assert core.email_from_alias("mbox:not-an-address") is None


def test_config_refuses_what_cannot_work():
    with pytest.raises(core.BadgeConfigError) as unknown:
        config(badge_levels=("expert",))
    assert unknown.value.field == "badges_levels" and "expert" in str(unknown.value)
    with pytest.raises(core.BadgeConfigError) as email:
        config(issuer_email="not an address")
    assert email.value.field == "badges_issuer_email"
    with pytest.raises(core.BadgeConfigError) as url:
        config(issuer_url="ftp://academy.example.org")
    assert url.value.field == "badges_issuer_url"
    assert not config(issuer_email="").enabled and not config(badge_levels=()).enabled
    assert config().enabled


def test_urls_share_the_issuer_origin():
    urls = config().urls
    assert urls.issuer == "https://connector.example.org/badges/issuer"
    assert urls.revocations == "https://connector.example.org/badges/issuer/revocations"
    assert urls.badge_class("role-dir-ready") == (
        "https://connector.example.org/badges/classes/role-dir-ready"
    )
    assert urls.assertion_image("x", "svg") == (
        "https://connector.example.org/badges/assertions/x/image.svg"
    )


def _record(**changes) -> documents.AssertionRecord:
    values = {
        "id": "0f3a4720-cd40-484d-9369-b3aa730d1956",
        "class_id": "role-dir-developing",
        "recipient": core.hash_email("ada@example.org", "deadbeef"),
        "salt": "deadbeef",
        "issued_on": datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC),
        "narrative": "On 2026-11-20 …",
    }
    values.update(changes)
    return documents.AssertionRecord(**values)


def test_issuer_profile_has_what_ob2_requires():
    doc = documents.issuer(config(issuer_description="We teach."))
    assert doc["@context"] == "https://w3id.org/openbadges/v2"
    assert doc["type"] == "Issuer" and doc["id"].endswith("/badges/issuer")
    assert doc["name"] == "Example Academy" and doc["url"] == "https://academy.example.org"
    assert doc["email"] == "badges@academy.example.org" and doc["description"] == "We teach."
    assert doc["revocationList"] == "https://connector.example.org/badges/issuer/revocations"


def test_badge_class_has_what_ob2_requires():
    record = documents.BadgeClassRecord(
        id="role-dir-developing", role=ROLE, level="developing", role_name="Director",
        name="Director — developing", description="Readiness…", criteria="Awarded while…",
        alignment=({"targetName": "Director", "targetUrl": ROLE},),
    )
    doc = documents.badge_class(config(), record)
    assert doc["type"] == "BadgeClass"
    assert doc["id"] == "https://connector.example.org/badges/classes/role-dir-developing"
    assert doc["issuer"] == "https://connector.example.org/badges/issuer"
    assert doc["image"] == doc["id"] + "/image.png"
    assert doc["criteria"] == {"narrative": "Awarded while…"}
    assert doc["name"] and doc["description"]
    assert doc["alignment"] == [{"targetName": "Director", "targetUrl": ROLE}]


def test_assertion_is_hosted_with_a_hashed_email():
    doc = documents.assertion(config(), _record())
    assert doc["type"] == "Assertion"
    assert doc["id"] == (
        "https://connector.example.org/badges/assertions/0f3a4720-cd40-484d-9369-b3aa730d1956"
    )
    assert doc["recipient"] == {
        "type": "email", "hashed": True, "salt": "deadbeef",
        "identity": "sha256$de98540c843f1128610e8935f43437d306b92bfbfd816740901d342b6375a518",
    }
    assert doc["badge"] == "https://connector.example.org/badges/classes/role-dir-developing"
    assert doc["verification"] == {"type": "HostedBadge"}
    assert doc["issuedOn"] == "2026-11-20T10:00:00Z"
    assert doc["image"] == doc["id"] + "/image.png"
    assert doc["evidence"] == {"narrative": "On 2026-11-20 …"}
    assert "revoked" not in doc


def test_revoked_assertion_is_stripped_down_and_listed():
    record = _record(revoked_at=datetime(2026, 12, 1, tzinfo=UTC), revocation_reason="Fell.")
    doc = documents.assertion(config(), record)
    assert doc == {
        "@context": "https://w3id.org/openbadges/v2",
        "type": "Assertion",
        "id": "https://connector.example.org/badges/assertions/0f3a4720-cd40-484d-9369-b3aa730d1956",
        "revoked": True,
        "revocationReason": "Fell.",
    }
    listed = documents.revocation_list(config(), [(record.id, "Fell."), ("abc", None)])
    assert listed["type"] == "RevocationList" and listed["issuer"].endswith("/badges/issuer")
    assert listed["revokedAssertions"] == [
        {"id": doc["id"], "revocationReason": "Fell."},
        {"id": "https://connector.example.org/badges/assertions/abc"},
    ]


def test_texts_name_role_and_level_and_nobody():
    name, description, criteria = documents.class_texts(
        config(), role_name="Director", role_description="Leads L&D.", level="developing",
        requirements=[("Budget ownership", 3, 2.0)], scale_top=4,
    )
    assert name == "Director — developing"
    assert "at least 50 out of 100" in description and "Leads L&D." in description
    assert "- Budget ownership: 3 (weight 2)" in criteria
    narrative = documents.evidence_narrative(
        config(), "Director", "ready", datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
    )
    assert narrative.startswith("On 2026-11-20 the holder's readiness for the role Director")
    assert "at least 80 out of 100" in narrative


# --- who holds what --------------------------------------------------------------------------


def held(*pairs: tuple[str, str, str]) -> list[core.Held]:
    return [core.Held(i, role, level) for i, role, level in pairs]


def test_entitlement_is_every_badge_level_reached():
    cfg = config()
    assert core.entitlement(cfg, "not ready") == frozenset()
    assert core.entitlement(cfg, "emerging") == frozenset()
    assert core.entitlement(cfg, "developing") == {"developing"}
    assert core.entitlement(cfg, "ready") == {"developing", "ready"}
    assert core.entitlement(cfg, "renamed") is None


def test_reaching_a_level_awards_it_and_the_ones_below():
    result = core.plan(config(), {ROLE: "ready"}, [], [], True, [ROLE])
    assert result.award == ((ROLE, "developing"), (ROLE, "ready"))
    assert result.revoke == () and result.pending == ()


def test_moving_up_adds_a_badge_and_keeps_the_lower_one():
    result = core.plan(config(), {ROLE: "ready"}, held(("a1", ROLE, "developing")), [], True,
                       [ROLE])
    assert result.award == ((ROLE, "ready"),) and result.revoke == ()


def test_falling_revokes_only_the_levels_left_behind():
    mine = held(("a1", ROLE, "developing"), ("a2", ROLE, "ready"))
    down_one = core.plan(config(), {ROLE: "developing"}, mine, [], True, [ROLE])
    assert down_one.award == () and down_one.revoke == (("a2", core.REASON_READINESS),)
    down_all = core.plan(config(), {ROLE: "emerging"}, mine, [], True, [ROLE])
    assert sorted(down_all.revoke) == [("a1", core.REASON_READINESS),
                                       ("a2", core.REASON_READINESS)]


def test_nothing_changes_while_in_step():
    mine = held(("a1", ROLE, "developing"), ("a2", ROLE, "ready"))
    result = core.plan(config(), {ROLE: "ready", OTHER: "emerging"}, mine, [], True, [ROLE, OTHER])
    assert result == core.Plan((), (), ())


def test_without_an_email_badges_wait():
    result = core.plan(config(), {ROLE: "developing"}, [], [], False, [ROLE])
    assert result.award == () and result.pending == ((ROLE, "developing"),)


def test_an_admin_revocation_is_not_undone():
    result = core.plan(config(), {ROLE: "ready"}, held(("a1", ROLE, "developing")),
                       [(ROLE, "ready")], True, [ROLE])
    assert result.award == () and result.revoke == ()


def test_unknown_level_leaves_badges_alone_and_dropped_levels_revoke():
    mine = held(("a1", ROLE, "developing"))
    assert core.plan(config(), {ROLE: "renamed"}, mine, [], True, [ROLE]) == core.Plan((), (), ())
    only_ready = core.plan(config(badge_levels=("ready",)), {ROLE: "developing"}, mine, [], True,
                           [ROLE])
    assert only_ready.revoke == (("a1", core.REASON_NOT_AWARDED),)


def test_no_score_or_role_left_revokes():
    mine = held(("a1", ROLE, "developing"))
    assert core.plan(config(), {}, mine, [], True, [ROLE]).revoke == (
        ("a1", core.REASON_READINESS),
    )
    gone = core.plan(config(), {ROLE: "ready"}, mine, [], True, [OTHER])
    assert gone.revoke == (("a1", core.REASON_READINESS),) and gone.award == ()


def test_reasons_and_class_ids_are_bounded():
    assert core.clean_reason("  wrong\n person ") == "wrong person"
    assert len(core.clean_reason("x" * 5000)) == core.MAX_REASON
    with pytest.raises(ValueError):
        core.clean_reason(" \n ")
    assert core.class_id_for("ROLE.DIR", "not ready", ROLE, taken=False) == "role-dir-not-ready"
    hashed = core.class_id_for("ROLE.DIR", "not ready", ROLE, taken=True)
    assert hashed.startswith("role-dir-not-ready-") and core.CLASS_ID.match(hashed)
    assert hashed != core.class_id_for("ROLE.DIR", "not ready", OTHER, taken=True)


def test_badge_levels_are_checked_once_badges_are_on():
    from lrs_connector.settings import SettingsError, load_settings

    renamed = {"LRS_CONNECTOR_READINESS_LEVELS": "low=0,high=60"}
    assert load_settings(environ=renamed).readiness_levels == ("low=0", "high=60")
    with pytest.raises(SettingsError, match="badges_levels: 'developing' is not a readiness level"):
        load_settings(environ={**renamed, "LRS_CONNECTOR_BADGES_ISSUER_EMAIL": "b@example.org"})
