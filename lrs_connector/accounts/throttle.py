"""Login throttling: after a number of failed sign-ins, a lockout that doubles with each further
failure, per account and per client address.

The account counter stops guessing one person's password from many addresses; the address
counter stops trying one common password on many accounts from one address, with a higher
threshold because several people can share an address. Counters live in the database
(`store/accounts.py`) so every web process agrees; this module only does the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Policy:
    threshold: int  # failures before the first lockout
    base_seconds: float  # the first lockout; each further failure doubles it
    max_seconds: float  # no lockout is longer
    forget_after: timedelta  # a quiet period after which failures start again from zero


ACCOUNT_POLICY = Policy(threshold=5, base_seconds=30.0, max_seconds=900.0,
                        forget_after=timedelta(hours=24))
ADDRESS_POLICY = Policy(threshold=20, base_seconds=30.0, max_seconds=900.0,
                        forget_after=timedelta(hours=1))


@dataclass(frozen=True, slots=True)
class Counter:
    failures: int
    last_failure_at: datetime
    locked_until: datetime | None


def lockout_seconds(failures: int, policy: Policy) -> float:
    """How long the `failures`-th failure in a row locks sign-in (0 below the threshold)."""
    if failures < policy.threshold:
        return 0.0
    doublings = min(failures - policy.threshold, 32)
    return min(policy.max_seconds, policy.base_seconds * 2.0**doublings)


def after_failure(counter: Counter | None, now: datetime, policy: Policy) -> Counter:
    """The counter after one more failed sign-in at `now`."""
    if counter is None or now - counter.last_failure_at >= policy.forget_after:
        failures = 1
    else:
        failures = counter.failures + 1
    seconds = lockout_seconds(failures, policy)
    locked = now + timedelta(seconds=seconds) if seconds else None
    return Counter(failures, now, locked)


def wait_seconds(counter: Counter | None, now: datetime) -> float:
    """Seconds until sign-in may be tried again (0: now)."""
    if counter is None or counter.locked_until is None or counter.locked_until <= now:
        return 0.0
    return (counter.locked_until - now).total_seconds()
