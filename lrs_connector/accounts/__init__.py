"""Local accounts for the web consoles: roles, the password policy and hashing, login throttling.

Pure domain code (no Flask, no SQL): `store/accounts.py` keeps accounts, sessions and throttle
counters; `web/ui/` uses them for sign-in. People with an account are L&D auditors and admins;
learners never have one (they open their page through a signed link, `learner_links.py`).
"""

from lrs_connector.accounts.passwords import (
    PasswordError,
    check_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from lrs_connector.accounts.roles import ROLES, RoleError, allows, check_role, check_username
from lrs_connector.accounts.throttle import ACCOUNT_POLICY, ADDRESS_POLICY, Counter, Policy

__all__ = [
    "ACCOUNT_POLICY",
    "ADDRESS_POLICY",
    "ROLES",
    "Counter",
    "PasswordError",
    "Policy",
    "RoleError",
    "allows",
    "check_password",
    "check_role",
    "check_username",
    "hash_password",
    "needs_rehash",
    "verify_password",
]
