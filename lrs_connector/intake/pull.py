"""Polling LRSs: catch up on statements that forwarding lost, or that were never forwarded.

One pull of a source asks `GET statements?since=<cursor - lookback>` and follows `more` until
the LRS has nothing more. Every page goes through the same intake path as forwarded statements
(validation, quarantine, deduplication by id, voiding in any order), and in the same
transaction the source's progress is recorded, so a page is either stored *and* counted, or
neither; a crash repeats at most one page, and repeats are recognised as duplicates.

The cursor never depends on the order an LRS returns statements in (the spec's default is
newest first, `ascending` is honoured the wrong way round by some). During a pull the
source keeps the next `more` link and the newest `stored` seen; only when the pull is
complete does that `stored` become the cursor. The next pull asks from `lookback_seconds`
before the cursor: statements an LRS commits late with an earlier `stored`, or LRSs whose
`since` compares another time (Ralph compares `timestamp`), are caught by the overlap.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from lrs_connector.intake.lrs_client import LRSClient, LRSError, Page
from lrs_connector.intake.service import Intake, IntakeError
from lrs_connector.settings import Settings
from lrs_connector.store import database
from lrs_connector.store import pull as sources
from lrs_connector.store.holders import Holder
from lrs_connector.xapi.records import parse_timestamp

log = logging.getLogger(__name__)

IDLE_SECONDS = 5.0


@dataclass
class PullResult:
    """What one pull of one source did."""

    source: str
    pages: int = 0
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    error: str | None = None
    busy: bool = False  # another process holds the source


def new_owner() -> str:
    """Names this process and thread in leases (shown to admins as who is polling)."""
    host = socket.gethostname()[:40]
    return f"{host}:{os.getpid()}:{threading.get_ident() % 100000}:{uuid.uuid4().hex[:6]}"


def backoff_seconds(interval: float, failures: int, maximum: float) -> float:
    """Wait before the next attempt after `failures` consecutive failures (doubling, capped,
    with a little jitter so that processes do not retry in step)."""
    base = min(maximum, max(interval, 5.0) * 2 ** min(failures, 20))
    return base * random.uniform(0.9, 1.0)


class Puller:
    """Pulls pull sources into intake. Holds no state between pulls but its lease owner id."""

    def __init__(
        self,
        engine: Engine,
        intake: Intake,
        *,
        max_backoff: float = 900.0,
        owner: str | None = None,
        session_factory: Callable | None = None,
    ) -> None:
        self.engine = engine
        self.intake = intake
        self.max_backoff = max_backoff
        self.owner = owner or new_owner()
        self.session_factory = session_factory

    @classmethod
    def from_settings(cls, engine: Engine, settings: Settings, **kwargs) -> Puller:
        return cls(
            engine,
            Intake.from_settings(engine, settings),
            max_backoff=settings.pull_max_backoff_seconds,
            **kwargs,
        )

    def pull(self, pull_id: int, stop: threading.Event | None = None) -> PullResult:
        """Pull one source until the LRS has nothing more (or `stop` is set)."""
        now = datetime.now(UTC)
        with database.write(self.engine) as conn:
            source = sources.by_id(conn, pull_id)
            lease = _lease_seconds(source)
            taken = sources.claim(conn, pull_id, self.owner, now, lease)
        result = PullResult(source.name)
        if not taken:
            result.busy = True
            return result
        error: str | None = None
        try:
            self._pull(source, result, stop)
        except (LRSError, sources.PullSourceError, IntakeError) as exc:
            error = getattr(exc, "message", None) or str(exc)
        except sources.LeaseLost:
            log.warning("pull source %s was taken over by another process", source.name)
            return result
        except Exception as exc:  # the loop must go on; the admin sees the error
            log.exception("pulling %s failed", source.name)
            error = f"internal error: {type(exc).__name__}: {exc}"[:500]
        result.error = error
        if error is None:
            wait = source.interval_seconds
            log.info(
                "pulled %s: %d page(s), %d statement(s), %d new",
                source.name,
                result.pages,
                result.received,
                result.stored,
            )
        else:
            wait = backoff_seconds(source.interval_seconds, source.failures, self.max_backoff)
            log.warning("pulling %s failed (retry in %.0f s): %s", source.name, wait, error)
        with database.write(self.engine) as conn:
            sources.finish(
                conn, pull_id, self.owner, now=datetime.now(UTC), error=error, retry_after=wait
            )
        return result

    def _pull(self, source: sources.PullSource, result: PullResult, stop) -> None:
        password = sources.resolve_password(source.password_ref)
        client = LRSClient(
            source.endpoint,
            username=source.username,
            password=password,
            version=source.xapi_version,
            timeout=source.timeout_seconds,
            session=self.session_factory() if self.session_factory else None,
        )
        holder = _holder(source)
        url = source.chain_more
        resumed = url is not None
        if url is None:
            url = self._first_url(client, source)
        while True:
            try:
                page = client.fetch(url)
            except LRSError as exc:
                if not (resumed and exc.status is not None and 400 <= exc.status < 500):
                    raise
                # A `more` link kept from an interrupted pull has expired: start again.
                with database.write(self.engine) as conn:
                    sources.abandon_chain(conn, source.id)
                url, resumed = self._first_url(client, source), False
                continue
            resumed = False
            self._commit(source, holder, page, result)
            if page.more is None or (stop is not None and stop.is_set()):
                return
            url = page.more

    def _first_url(self, client: LRSClient, source: sources.PullSource) -> str:
        since = None
        if source.cursor_stored is not None:
            since = source.cursor_stored - timedelta(seconds=source.lookback_seconds)
        return client.first_url(since, source.page_size, source.filters)

    def _commit(self, source, holder: Holder, page: Page, result: PullResult) -> None:
        newest = _newest_stored(page.statements)
        batch = self.intake.max_batch
        checked = [  # validated before the write turn: processing writes meanwhile
            self.intake.check(holder, page.statements[start : start + batch], via="pull")
            for start in range(0, len(page.statements), batch)
        ]
        with database.write(self.engine) as conn:
            outcomes = [self.intake.store_checked(conn, holder, part) for part in checked]
            sources.commit_page(
                conn,
                source.id,
                self.owner,
                now=datetime.now(UTC),
                lease_seconds=_lease_seconds(source),
                more=page.more,
                newest_stored=newest,
                count=len(page.statements),
            )
        result.pages += 1
        result.received += len(page.statements)
        for outcome in outcomes:
            result.stored += len(outcome.stored)
            result.duplicates += len(outcome.duplicates)
            result.quarantined += len(outcome.quarantined)
        from lrs_connector import metrics  # after the commit: only what was kept counts

        for outcome_name in ("stored", "duplicates", "quarantined"):
            found = sum(len(getattr(outcome, outcome_name)) for outcome in outcomes)
            if found:
                label = "duplicate" if outcome_name == "duplicates" else outcome_name
                metrics.PULLED.labels(holder.name, label).inc(found)

    def run(
        self,
        stop: threading.Event,
        *,
        name: str | None = None,
        once: bool = False,
        on_result: Callable[[PullResult], None] | None = None,
    ) -> list[PullResult]:
        """Pull due sources (all enabled ones, or only the one named) until `stop` is set; with
        `once`, pull each enabled source (or the one named) now, once, and return.

        An unknown or disabled `name` raises PullSourceError at once rather than leaving a
        loop that would never pull anything; disabled later, the source is simply not due."""
        results: list[PullResult] = []
        named: int | None = None
        if name is not None:
            with database.read(self.engine) as conn:
                named = sources.get_enabled(conn, name).id
        while not stop.is_set():
            with database.read(self.engine) as conn:
                if once:
                    ids = sources.due(conn, datetime.now(UTC), name=name)
                    if name is None:
                        ids = [s.id for s in sources.list_all(conn) if s.enabled]
                else:
                    ids = sources.due(conn, datetime.now(UTC))
                    if named is not None:
                        ids = [pull_id for pull_id in ids if pull_id == named]
            for pull_id in ids:
                if stop.is_set():
                    break
                result = self.pull(pull_id, stop)
                results.append(result)
                if on_result:
                    on_result(result)
            if once:
                break
            stop.wait(self._idle_seconds(named))
        return results

    def _idle_seconds(self, named: int | None = None) -> float:
        """Until the next source (or the named one) is due, at most IDLE_SECONDS (new sources
        are seen soon)."""
        with database.read(self.engine) as conn:
            pending = [
                s.next_attempt_at
                for s in sources.list_all(conn)
                if s.enabled
                and s.next_attempt_at is not None
                and (named is None or s.id == named)
            ]
        if not pending:
            return IDLE_SECONDS
        wait = (min(pending) - datetime.now(UTC)).total_seconds()
        return min(IDLE_SECONDS, max(0.05, wait))


def start_thread(engine: Engine, settings: Settings) -> threading.Event:
    """The embedded puller of `serve`: a daemon thread; set the returned event to stop it.

    Every web process may run one; leases keep two from polling the same source. On SQLite
    only one process's thread runs at a time (they would only queue on the write lock).
    """
    stop = threading.Event()
    puller = Puller.from_settings(engine, settings)

    def loop() -> None:
        with database.sole_worker(engine, "puller"):
            while not stop.is_set():
                try:
                    puller.run(stop)
                except Exception:  # e.g. the database is briefly unreachable
                    log.exception("the pull loop failed; starting it again")
                    stop.wait(IDLE_SECONDS)

    thread = threading.Thread(target=loop, name="lrs-puller", daemon=True)
    thread.start()
    return stop


def _holder(source: sources.PullSource) -> Holder:
    """Pulled statements are attributed to the linked source, if any; an `authority` is only
    set (as the pull source) on the rare statement an LRS returns without one."""
    return Holder(
        id=source.source_id,  # type: ignore[arg-type]
        name=source.source_name or source.name,
        key="",
        enabled=True,
        created_at=source.created_at,
        rotated_at=None,
    )


def _lease_seconds(source: sources.PullSource) -> float:
    """How long a claim or a page commit holds the source. Each page request ends within the
    source's timeout, connecting and a dribbling server included (LRSClient's deadline), and
    each committed page renews the lease; between two renewals there are at most two requests
    (an expired `more` link, then the first page again) and the checking of one page. Four
    timeouts, and never less than two minutes, leaves room for that, so a live puller keeps
    its lease and only a stalled or crashed one is taken over."""
    return max(120.0, 4 * source.timeout_seconds)


def _newest_stored(statements: list) -> datetime | None:
    newest = None
    for statement in statements:
        stored = statement.get("stored") if isinstance(statement, dict) else None
        if not isinstance(stored, str):
            continue
        try:
            moment = parse_timestamp(stored)
        except (ValueError, TypeError):
            continue
        if newest is None or moment > newest:
            newest = moment
    return newest
