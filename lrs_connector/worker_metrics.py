"""A worker process's own Prometheus endpoint (`--metrics-port` on `process`, `worker` and
`pull`).

The web processes' `/metrics` adds up the counters of `serve`'s own processes; a separate worker
(a systemd unit, a Kubernetes pod) counts its processing, pulls and delivery attempts in its own
memory, so it answers a scrape itself. The database gauges stay with `/metrics` (one value for
the whole service). prometheus_client is imported only when the endpoint starts, as `serve`
needs it imported after its metrics folder is set up.
"""

from __future__ import annotations

import click


def options(command):
    """`--metrics-port` and `--metrics-host` for a long-running worker command."""
    command = click.option(
        "--metrics-host", default="127.0.0.1", show_default=True,
        help="Address this worker's Prometheus endpoint listens on.")(command)
    return click.option(
        "--metrics-port", type=click.IntRange(1, 65535), default=None,
        help="Answer Prometheus on this port with this worker's counters (default: no "
             "endpoint).",
    )(command)


def start(host: str, port: int | None) -> None:
    """Serve the counters on ``host:port`` from a background thread (every path answers);
    nothing when ``port`` is None. A port in use stops the command with a clear message."""
    if port is None:
        return
    from prometheus_client import start_http_server

    from lrs_connector import metrics  # registers the counters before the first scrape

    assert metrics.EVIDENCE
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        raise click.ClickException(
            f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
