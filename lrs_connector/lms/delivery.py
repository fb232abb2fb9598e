"""The dispatcher: outbox → deliveries → LMS targets, with retries, backoff and dead letters.

One pass fans new outbox rows out to the configured targets, then lets every target deliver its
due rows in a thread of its own, so a slow or failing LMS only delays itself. Each delivery is
leased in one short transaction, written to the LMS outside any transaction, and acknowledged
in another (lrs_connector.store.outbox explains why this loses nothing and doubles nothing).

Runs inside `serve` (one thread per web process; on SQLite one process at a time) and as
`lrs-connector worker` processes, any number of them on PostgreSQL.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection, Engine

from lrs_connector import logs, metrics
from lrs_connector.lms.targets import Change, GiveUp, LearnerRef, Retry, Target, Unresolved
from lrs_connector.store import database, outbox
from lrs_connector.store import learners as stored_learners

log = logging.getLogger(__name__)

#: Extra links for a change (badge assertion, learner page), looked up at delivery time.
Links = Callable[[Any, int, str], tuple[str | None, str | None]]


@dataclass(frozen=True)
class Policy:
    max_attempts: int = 8
    backoff_seconds: float = 30.0
    max_backoff_seconds: float = 3600.0
    lease_seconds: float = 120.0
    user_cache_seconds: float = 86400.0
    batch_size: int = 50

    @classmethod
    def from_settings(cls, settings) -> Policy:
        return cls(
            max_attempts=settings.delivery_max_attempts,
            backoff_seconds=settings.delivery_backoff_seconds,
            max_backoff_seconds=settings.delivery_max_backoff_seconds,
            lease_seconds=settings.delivery_lease_seconds,
            user_cache_seconds=settings.lms_user_cache_seconds,
        )


def backoff(attempt: int, policy: Policy, after: float | None = None,
            rng: random.Random | None = None) -> float:
    """Seconds before the next attempt: the target's Retry-After when it gave one (never less
    than asked), else exponential from `backoff_seconds` with "equal jitter" (half fixed, half
    random, so retries of many deliveries spread out but never come sooner than half)."""
    if after is not None:
        return min(max(after, 0.0), policy.max_backoff_seconds * 4)
    ceiling = min(policy.max_backoff_seconds, policy.backoff_seconds * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


@dataclass
class PassResult:
    dispatched: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # "target:outcome" -> count

    def add(self, target: str, outcome: str) -> None:
        key = f"{target}:{outcome}"
        self.outcomes[key] = self.outcomes.get(key, 0) + 1

    @property
    def delivered(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k.endswith(":delivered"))

    @property
    def attempted(self) -> int:
        return sum(self.outcomes.values())


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        targets: dict[str, Target],
        policy: Policy | None = None,
        *,
        links: Links | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.targets = targets
        self.policy = policy or Policy()
        self.links = links
        self.clock = clock
        self.rng = rng or random.Random()

    def run_once(self) -> PassResult:
        """Fan out everything pending, then one round of deliveries per target."""
        result = PassResult()
        while True:
            with database.write(self.engine) as conn:
                moved = outbox.fan_out(conn, sorted(self.targets), self.clock())
            result.dispatched += moved
            if moved < 1000:
                break
        if not self.targets:
            return result
        with ThreadPoolExecutor(max_workers=len(self.targets),
                                thread_name_prefix="lrs-deliver") as pool:
            for name, outcomes in zip(
                self.targets, pool.map(self._deliver_round, self.targets), strict=True
            ):
                for outcome in outcomes:
                    result.add(name, outcome)
        return result

    def drain(self, max_passes: int = 1000) -> PassResult:
        """Passes until nothing is due (tests, `worker --once`)."""
        total = PassResult()
        for _ in range(max_passes):
            step = self.run_once()
            total.dispatched += step.dispatched
            for key, n in step.outcomes.items():
                total.outcomes[key] = total.outcomes.get(key, 0) + n
            if not step.outcomes and not step.dispatched:
                break
        return total

    def run(self, stop: threading.Event, idle_seconds: float = 1.0) -> None:
        while not stop.is_set():
            try:
                result = self.run_once()
            except Exception:
                log.exception("delivery pass failed; it will be tried again")
                stop.wait(max(idle_seconds, 5.0))
                continue
            if not result.attempted and not result.dispatched:
                stop.wait(idle_seconds)

    # -- one target ------------------------------------------------------------------------

    def _deliver_round(self, name: str) -> list[str]:
        target = self.targets[name]
        with database.write(self.engine) as conn:
            taken = outbox.take(conn, name, self.clock(), self.policy.lease_seconds,
                                self.policy.batch_size)
        outcomes = []
        for item in taken:
            # log lines of this delivery carry the requests behind the change (logs.carrying)
            with logs.carrying(item.payload.get("request_ids", ())):
                outcome = self._deliver_one(target, item)
            outcomes.append(outcome)
            if outcome == "retry":
                # the LMS is struggling: leave the rest of this round for later, untouched by
                # this failure (their lease expires, or the next pass takes them when due)
                self._release(item, taken)
                break
        return outcomes

    def _release(self, failed: outbox.Taken, taken: list[outbox.Taken]) -> None:
        rest = taken[taken.index(failed) + 1 :]
        if rest:
            now = self.clock()
            with database.write(self.engine) as conn:
                outbox.release(conn, rest, now + timedelta(seconds=self.policy.backoff_seconds),
                               now)

    def _deliver_one(self, target: Target, item: outbox.Taken) -> str:
        now = self.clock()
        try:
            with database.read(self.engine) as conn:
                learner = stored_learners.get(conn, item.learner_id)
                cached = outbox.cached_user(conn, target.name, item.learner_id)
                badge_url, page_url = (
                    self.links(conn, item.learner_id, item.role) if self.links else (None, None)
                )
                role_name = _role_name(conn, item.role)
            if learner is None or learner.merged_into is not None:
                why = "learner merged into another" if learner else "learner no longer exists"
                return self._record(item, "discarded", why, target.name)
            user_id = self._user(target, learner, cached, now)
            if user_id is None:
                raise Unresolved(f"no user at {target.name} matches learner {item.learner_id}")
            outcome = target.deliver(user_id, _change(item, badge_url, page_url, role_name))
        except Unresolved as exc:
            with database.write(self.engine) as conn:
                outbox.forget_user(conn, target.name, item.learner_id)
            return self._record(item, "unresolved", exc.message, target.name)
        except GiveUp as exc:
            return self._record(item, "dead", exc.message, target.name)
        except Retry as exc:
            return self._retry(item, exc.message, exc.after, target.name)
        except Exception as exc:  # a bug or an unexpected answer: retried, and logged in full
            log.exception("delivery %s to %s failed unexpectedly", item.id, target.name)
            return self._retry(item, f"unexpected error: {type(exc).__name__}", None,
                               target.name)
        with database.write(self.engine) as conn:
            acknowledged = outbox.finish(conn, item, outcome, self.clock())
        if not acknowledged:
            log.warning("delivery %s to %s: lease lost before acknowledging (taken again by "
                        "another worker); the target write is idempotent", item.id, target.name)
        log.info("delivered %s to %s: %s", item.id, target.name, outcome)
        metrics.DELIVERIES.labels(target.name, "delivered").inc()
        return "delivered"

    def _user(self, target: Target, learner, cached, now: datetime) -> str | None:
        """The learner's user at the target: cached (a manual link never expires) or looked up."""
        fresh = cached is not None and (
            cached.method == "manual"
            or now - cached.resolved_at < timedelta(seconds=self.policy.user_cache_seconds)
        )
        if fresh and cached.user_id is not None:
            return cached.user_id
        user_id = target.resolve(LearnerRef(learner.id, learner.name, tuple(learner.aliases)))
        with database.write(self.engine) as conn:
            other = outbox.user_owner(conn, target.name, user_id, learner.id) if user_id else None
            if other is None:
                outbox.remember_user(conn, target.name, learner.id, user_id,
                                     "lookup" if user_id else "not found", now)
        if other is not None:
            raise Unresolved(
                f"user {user_id} at {target.name} is already learner {other}'s: if they are one "
                f"person, `lrs-connector learners merge {other} {learner.id}`; otherwise "
                f"`lrs-connector lms link {target.name} {learner.id} USER`"
            )
        return user_id

    def _retry(self, item: outbox.Taken, message: str, after: float | None, name: str) -> str:
        now = self.clock()
        if item.attempts >= self.policy.max_attempts:
            return self._record(item, "dead", f"gave up after {item.attempts} attempts: "
                                f"{message}", name)
        wait = backoff(item.attempts, self.policy, after, self.rng)
        with database.write(self.engine) as conn:
            outbox.fail(conn, item, "pending", message, now,
                        retry_at=now + timedelta(seconds=wait))
        log.warning("delivery %s to %s failed (attempt %s), retry in %.0f s: %s",
                    item.id, name, item.attempts, wait, message)
        metrics.DELIVERIES.labels(name, "retry").inc()
        return "retry"

    def _record(self, item: outbox.Taken, status: str, message: str, name: str) -> str:
        with database.write(self.engine) as conn:
            outbox.fail(conn, item, status, message, self.clock())
        log.warning("delivery %s to %s %s: %s", item.id, name, status, message)
        metrics.DELIVERIES.labels(name, status).inc()
        if status == "dead":
            metrics.DEAD_LETTERS.labels(name).inc()
        return status


def _change(
    item: outbox.Taken, badge_url: str | None, page_url: str | None, role_name: str
) -> Change:
    p = item.payload
    return Change(
        delivery_id=item.id,
        learner_id=item.learner_id,
        role=item.role,
        role_code=p.get("role_code") or item.role.rstrip("/").rsplit("/", 1)[-1],
        score=float(p["score"]),
        level=p["level"],
        previous_score=p.get("previous_score"),
        previous_level=p.get("previous_level"),
        computed_at=datetime.fromisoformat(p["computed_at"]),
        badge_url=badge_url,
        page_url=page_url,
        role_name=role_name,
    )


def _role_name(conn: Connection, role: str) -> str:
    from lrs_connector.store.readiness import scorer

    found = scorer(conn).framework.roles.get(role)
    return found.name if found else ""


def start_thread(dispatcher: Dispatcher, idle_seconds: float = 1.0) -> threading.Event:
    """The embedded dispatcher of `serve`: a daemon thread; set the returned event to stop it."""
    stop = threading.Event()

    def loop() -> None:
        with database.sole_worker(dispatcher.engine, "dispatcher"):
            dispatcher.run(stop, idle_seconds)

    threading.Thread(target=loop, name="lrs-dispatcher", daemon=True).start()
    return stop
