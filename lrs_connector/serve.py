"""`lrs-connector serve`: the app under gunicorn, a production WSGI server.

With `embedded_processor` and `embedded_puller` on, each web process also runs the processing
loop and the LRS poller in threads, so the embedded default needs one command; the queue's
locking and the pull sources' leases keep them from doing the same work twice. Gunicorn
restarts a dead web process, and with it its threads.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from gunicorn.app.base import BaseApplication

from lrs_connector.settings import Settings


class _Server(BaseApplication):
    def __init__(self, settings: Settings, options: dict) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from lrs_connector.app import create_app

        return create_app(self.settings)


def _post_worker_init(worker) -> None:
    from lrs_connector import memory
    from lrs_connector.store import database

    app = worker.wsgi
    settings = app.extensions["lrs_settings"]
    engine = app.extensions["lrs_engine"]
    memory.tune_for_throughput()  # the app is loaded; what it holds lives as long as we do
    database.checkpoint_in_background(engine)
    if settings.embedded_processor:
        from lrs_connector import processing

        processing.start_thread(
            engine,
            batch_size=settings.process_batch_size,
            idle_seconds=settings.process_idle_seconds,
            refresh_hours=settings.readiness_refresh_hours,
        )
    if settings.embedded_puller:
        from lrs_connector.intake import pull

        pull.start_thread(engine, settings)
    if settings.embedded_dispatcher:
        from lrs_connector.lms.delivery import Dispatcher, Policy, start_thread
        from lrs_connector.lms.links import links_for

        start_thread(Dispatcher(engine, app.extensions["lrs_targets"],
                                Policy.from_settings(settings), links=links_for(settings)))


def _child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def prepare_metrics_folder(settings: Settings) -> None:
    """Web processes share counters through files in one folder, emptied at each start.
    Must run before anything imports prometheus_client in this process."""
    folder = Path(settings.resolved_data_dir) / "prometheus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def run(settings: Settings) -> None:
    """Serve until interrupted (SIGINT/SIGTERM stop gracefully)."""
    options = {
        "bind": f"{settings.host}:{settings.port}",
        "workers": settings.web_workers,
        "threads": settings.web_threads,
        "worker_class": "gthread",
        "keepalive": 5,
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
        "timeout": 60,
        "graceful_timeout": 20,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "post_worker_init": _post_worker_init,
        "child_exit": _child_exit,
        "limit_request_line": 8190,
        "proc_name": "lrs-connector",
    }
    _Server(settings, options).run()
