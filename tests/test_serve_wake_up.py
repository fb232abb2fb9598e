"""serve stops on SIGTERM whenever the signal lands (lrs_connector.serve.MainLoopWakeUp)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from lrs_connector.serve import MainLoopWakeUp

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
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # the barrage outlasts the loop
    print(waits, flush=True)
""")


def _survives_a_signal_barrage(module: str, name: str, seconds: float) -> bool:
    process = subprocess.Popen(
        [sys.executable, "-c", _BARRAGE.format(module=module, name=name), str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
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


@pytest.mark.slow
def test_a_stop_signal_landing_inside_wait_does_not_hang_serve():
    assert _survives_a_signal_barrage("lrs_connector.serve", "MainLoopWakeUp", 3.0)


@pytest.mark.slow
def test_the_barrage_does_hang_a_threading_event():
    """The test above can catch the hang it is about."""
    assert not _survives_a_signal_barrage("threading", "Event", 10.0)


def test_wait_returns_once_set_or_at_its_timeout():
    wake_up = MainLoopWakeUp()
    assert wake_up.wait(0.01) is False
    threading.Timer(0.05, wake_up.set).start()
    assert wake_up.wait(5) is True and wake_up.is_set()
    wake_up.clear()
    assert not wake_up.is_set()


def test_a_signal_handler_wakes_a_waiting_main_thread():
    wake_up = MainLoopWakeUp()
    previous = signal.signal(signal.SIGALRM, lambda *_: wake_up.set())
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        assert wake_up.wait(5) is True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
