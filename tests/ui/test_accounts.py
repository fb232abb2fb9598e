"""Accounts: the password policy and hashing, throttling arithmetic, and their storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lrs_connector.accounts import (
    ACCOUNT_POLICY,
    PasswordError,
    RoleError,
    allows,
    check_password,
    check_username,
    hash_password,
    needs_rehash,
    throttle,
    verify_password,
)
from lrs_connector.store import accounts as store
from lrs_connector.store import database

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short one", "at least 12"),
        ("x" * 1025, "at most 1024"),
        (" padded password ", "white space"),
        ("Password1234", "too easy"),
        ("aaaaaaaaaaaaaaaa", "too easy"),
        ("my name is audra!!", "username"),
    ],
)
def test_password_policy_refuses_weak_passwords_and_says_why(password, why):
    with pytest.raises(PasswordError, match=why) as caught:
        check_password(password, "audra")
    assert password.strip() not in str(caught.value)  # never echoed


def test_password_hash_is_argon2id_and_verifies_only_the_right_password():
    hashed = hash_password("a good long passphrase")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "a good long passphrase")
    assert not verify_password(hashed, "a good long passphrasf")
    assert not verify_password("not a hash", "a good long passphrase")
    assert not needs_rehash(hashed)
    assert needs_rehash("not a hash")


def test_roles_rank_admin_above_auditor_and_usernames_are_normalised():
    assert allows("admin", "auditor") and allows("auditor", "auditor")
    assert not allows("auditor", "admin") and not allows("learner", "auditor")
    assert check_username("  Audra@Example.org ") == "audra@example.org"
    for bad in ("", "a b", "-lead", "x" * 101, "naïve"):
        with pytest.raises(RoleError):
            check_username(bad)


def test_lockout_starts_at_the_threshold_doubles_and_is_capped():
    policy = ACCOUNT_POLICY
    counter = None
    waits = []
    for n in range(12):
        counter = throttle.after_failure(counter, NOW + timedelta(seconds=n), policy)
        waits.append(throttle.wait_seconds(counter, NOW + timedelta(seconds=n)))
    assert waits[: policy.threshold - 1] == [0.0] * (policy.threshold - 1)
    assert waits[policy.threshold - 1] == policy.base_seconds
    assert waits[policy.threshold] == 2 * policy.base_seconds
    assert max(waits) == policy.max_seconds
    assert throttle.wait_seconds(counter, NOW + timedelta(hours=1)) == 0.0


def test_failures_are_forgotten_after_a_quiet_period():
    counter = throttle.Counter(4, NOW, None)
    assert throttle.after_failure(counter, NOW + timedelta(minutes=5), ACCOUNT_POLICY).failures == 5
    later = NOW + ACCOUNT_POLICY.forget_after
    assert throttle.after_failure(counter, later, ACCOUNT_POLICY).failures == 1


def test_store_adds_accounts_once_and_never_exposes_the_hash(engine):
    with database.write(engine) as conn:
        account = store.add(conn, "Audra", "auditor", hash_password("a good long passphrase"),
                            NOW)
        with pytest.raises(store.AccountError, match="already exists"):
            store.add(conn, "audra", "admin", hash_password("a good long passphrase"), NOW)
        with pytest.raises(store.AccountError, match="role must be one of"):
            store.add(conn, "root", "superuser", hash_password("a good long passphrase"), NOW)
    assert account.username == "audra" and account.role == "auditor" and account.enabled
    assert "hash" not in str(account.as_dict())
    with database.read(engine) as conn:
        assert [a.username for a in store.listing(conn)] == ["audra"]


def test_disabling_or_a_new_password_ends_sessions(engine):
    with database.write(engine) as conn:
        account = store.add(conn, "audra", "auditor", hash_password("a good long passphrase"),
                            NOW)
        first = store.open_session(conn, account.id, NOW)
    with database.read(engine) as conn:
        assert store.session_account(conn, first, NOW).account.id == account.id
        assert store.session_account(conn, first + "x", NOW) is None
        # idle for longer than the timeout, or older than the lifetime: over
        assert store.session_account(conn, first, NOW + timedelta(hours=2)) is None
    with database.write(engine) as conn:
        store.set_enabled(conn, "audra", False)
    with database.read(engine) as conn:
        assert store.session_account(conn, first, NOW) is None
    with database.write(engine) as conn:
        store.set_enabled(conn, "audra", True)
        second = store.open_session(conn, account.id, NOW)
        store.set_password(conn, "audra", hash_password("another long passphrase"), NOW)
    with database.read(engine) as conn:
        assert store.session_account(conn, second, NOW) is None


def test_failures_count_per_key_in_the_database(engine):
    keys = {"account:audra": throttle.ACCOUNT_POLICY, "address:10.0.0.1": throttle.ADDRESS_POLICY}
    for n in range(throttle.ACCOUNT_POLICY.threshold):
        with database.write(engine) as conn:
            after = store.record_failure(conn, keys, NOW + timedelta(seconds=n))
    assert after["account:audra"].failures == throttle.ACCOUNT_POLICY.threshold
    assert after["account:audra"].locked_until is not None
    assert after["address:10.0.0.1"].locked_until is None  # its threshold is higher
    with database.write(engine) as conn:
        store.clear_throttle(conn, "account:audra")
    with database.read(engine) as conn:
        assert set(store.throttle_counters(conn, list(keys))) == {"address:10.0.0.1"}
