"""Waiting on processes the tests start (servers, workers, a real LRS): poll until ready."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(check: Callable[[], T], seconds: float = 30.0, interval: float = 0.2) -> T:
    """Call ``check`` every ``interval`` until it returns something true or ``seconds`` have
    passed; return what it returned last (false when time ran out: the caller asserts)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval)
    return check()
