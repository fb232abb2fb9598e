"""Actors become alias keys: mbox and its sha1 meet, accounts and openids, groups by choice."""

from __future__ import annotations

import hashlib

import pytest

from lrs_connector.learners import agent_keys, companions, identities, parse_alias


def test_mbox_also_yields_the_sha1_an_lrs_would_send():
    sha1 = hashlib.sha1(b"mailto:ada@example.org").hexdigest()
    by_mbox = agent_keys({"mbox": "mailto:Ada@Example.org"})
    by_hash = agent_keys({"mbox_sha1sum": sha1.upper()})
    assert by_mbox == ("mbox:ada@example.org", f"mbox_sha1sum:{sha1}")
    assert by_hash == (f"mbox_sha1sum:{sha1}",)
    assert set(by_mbox) & set(by_hash)


def test_account_and_openid_keys():
    assert agent_keys({"account": {"homePage": "https://lms.example.org/", "name": "ada"}}) == (
        "account:https://lms.example.org|ada",
    )
    assert agent_keys({"openid": "https://id.example.org/ada"}) == (
        "openid:https://id.example.org/ada",
    )
    assert agent_keys({"name": "nobody"}) == ()


def test_anonymous_group_members_each_are_learners_identified_group_is_not():
    members = [{"mbox": "mailto:a@example.org"}, {"account": {"homePage": "h:x", "name": "b"}}]
    anonymous = identities({"objectType": "Group", "member": members})
    assert [p.primary for p in anonymous] == ["mbox:a@example.org", "account:h:x|b"]
    identified = {"objectType": "Group", "mbox": "mailto:team@example.org", "member": members}
    assert identities(identified) == []


def test_parse_alias_and_companions():
    assert parse_alias("mailto:Ada@Example.org") == "mbox:ada@example.org"
    assert parse_alias("account:https://lms.example.org/|ada") == (
        "account:https://lms.example.org|ada"
    )
    with pytest.raises(ValueError, match="not an alias"):
        parse_alias("ada")
    assert companions("mbox:ada@example.org")[1].startswith("mbox_sha1sum:")
