"""Ports on 127.0.0.1 for the servers tests start, and for addresses where nothing listens."""

from __future__ import annotations

import socket

_handed_out: set[int] = set()


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (a server may bind it, or a test may
    use it as a place where nothing listens). Never one this test run was given before: the
    kernel may hand out a just-closed port again, and a test that asks for two ports at once
    would get the same one twice."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
