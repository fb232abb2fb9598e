"""Ports on 127.0.0.1 for the servers tests start, and for addresses where nothing listens."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (a server may bind it, or a test may
    use it as a place where nothing listens)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
