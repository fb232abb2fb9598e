"""serve stops on SIGTERM whenever the signal lands (lrs_connector.serve.MainLoopWakeUp)."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types
from dataclasses import replace

import pytest
from granian.server import Server
from granian.server.common import AbstractServer

from lrs_connector import serve
from lrs_connector.serve import MainLoopWakeUp
from lrs_connector.settings import load_settings

# A stop handler that sets the wake-up, as granian's does, while the main thread enters and
# leaves wait() as fast as it can, and the test keeps sending the signal. With a
# threading.Event in its place a handler soon lands inside Event.wait and waits for the lock
# its own thread holds: one signal would hang it for ever; under the barrage each further
# signal nests another handler until the interpreter gives up (RecursionError).
_BARRAGE = textwrap.dedent("""
    import signal, sys, time
    from {module} import {name} as WakeUp
    wake_up = WakeUp()
    signal.signal(signal.SIGUSR1, lambda *_: wake_up.set())
    print("ready", flush=True)
    ends = time.monotonic() + float(sys.argv[1])
    waits = 0
    while time.monotonic() < ends:
        wake_up.clear()
        wake_up.wait(0)
        waits += 1
    signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGUSR1}})  # the barrage outlasts us
    print(waits, flush=True)
""")


def _survives_a_signal_barrage(module: str, name: str, seconds: float) -> bool:
    process = subprocess.Popen(
        [sys.executable, "-c", _BARRAGE.format(module=module, name=name), str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert select.select([process.stdout], [], [], 60)[0], "the barrage script never started"
        assert process.stdout.readline() == "ready\n"
        done = threading.Event()

        def barrage() -> None:
            while not done.is_set() and process.poll() is None:
                process.send_signal(signal.SIGUSR1)
                time.sleep(0.0002)

        sender = threading.Thread(target=barrage)
        sender.start()
        try:
            process.wait(timeout=seconds + 10)
            return process.returncode == 0 and int(process.stdout.readline()) > 0
        except subprocess.TimeoutExpired:
            return False
        finally:
            done.set()
            sender.join()
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


@pytest.mark.slow
def test_a_stop_signal_landing_inside_wait_does_not_hang_serve():
    assert _survives_a_signal_barrage("lrs_connector.serve", "MainLoopWakeUp", 3.0)


@pytest.mark.slow
def test_the_barrage_does_hang_a_threading_event():
    """The test above can catch the hang it is about."""
    assert not _survives_a_signal_barrage("threading", "Event", 10.0)


def _granian_main_loop(wake_up_for) -> tuple[threading.Thread, types.SimpleNamespace]:
    """Granian's own main loop (AbstractServer._serve_loop) after a web process has ended,
    with SIGTERM's handler running just after the loop looked for a stop and before it
    clears the wake-up to start that web process again."""
    server = types.SimpleNamespace(
        interrupt_signal=False, respawn_failed_workers=True, respawned_wrks={},
        reload_signal=False, lifetime_signal=False, rss_signal=False, respawned=0,
        _metrics=types.SimpleNamespace(incr_respawn_err=lambda _: None),
    )

    class EndedWorkers(list):
        def clear(self) -> None:
            super().clear()
            server.interrupt_signal = True  # what granian's signal_handler_interrupt does
            server.main_loop_interrupt.set()

    def respawn(*_args, **_kwargs) -> None:
        server.respawned += 1

    server.interrupt_children = EndedWorkers([0])
    server._respawn_workers = respawn
    server.main_loop_interrupt = wake_up_for(server)
    server.main_loop_interrupt.set()  # what a web process's watcher does when it ends
    loop = threading.Thread(target=AbstractServer._serve_loop, args=(server, None, None),
                            daemon=True)
    loop.start()
    loop.join(5)
    return loop, server


def test_a_stop_during_a_web_process_restart_is_not_cleared_away():
    loop, server = _granian_main_loop(
        lambda server: MainLoopWakeUp(stopping=lambda: server.interrupt_signal))
    assert server.respawned == 1
    assert not loop.is_alive(), "granian's main loop missed the stop"


def test_a_threading_event_loses_that_stop():
    """The test above can catch what it is about."""
    loop, server = _granian_main_loop(lambda _: threading.Event())
    assert loop.is_alive()
    server.main_loop_interrupt.set()  # let the loop end, now that the stop is seen
    loop.join(5)
    assert not loop.is_alive()


def test_serve_gives_granian_the_wake_up(monkeypatch, tmp_path):
    seen = {}

    def serve_here(server, **_kwargs) -> None:
        seen["wake_up"] = server.main_loop_interrupt
        server.interrupt_signal = True  # what granian's signal handler sets on a stop

    monkeypatch.setattr(Server, "serve", serve_here)
    monkeypatch.setattr(serve, "_stop_signals_end_starting_workers", lambda: None)
    settings = load_settings(environ={}, overrides={"data_dir": str(tmp_path)})
    serve.run(replace(settings, embedded_processor=False))
    wake_up = seen["wake_up"]
    assert isinstance(wake_up, MainLoopWakeUp)
    wake_up.clear()
    assert wake_up.is_set(), "a stop must keep granian's wake-up set"


def test_wait_returns_at_once_when_set_or_at_its_timeout():
    wake_up = MainLoopWakeUp()
    assert wake_up.wait(0.01) is False
    wake_up.set()
    wake_up.clear()
    assert not wake_up.is_set() and wake_up.wait(0.05) is False
    threading.Timer(0.05, wake_up.set).start()
    started = time.monotonic()
    assert wake_up.wait(30) is True and wake_up.is_set()
    assert time.monotonic() - started < 5, "woken only by the timeout"


def test_a_signal_handler_wakes_a_waiting_main_thread():
    wake_up = MainLoopWakeUp()
    previous = signal.signal(signal.SIGALRM, lambda *_: wake_up.set())
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        started = time.monotonic()
        assert wake_up.wait(30) is True
        assert time.monotonic() - started < 5, "woken only by the timeout"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
