"""Every module of the package can be the first one a process imports. A command, a worker or
a script may start from any of them; a circular import that the usual order of imports hides
(the application imports `a` before `b`) breaks the one that starts from `b`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lrs_connector"

# One interpreter loads the third-party libraries once and forks a child per module, which
# imports that module first: the check costs what the package's own imports cost.
_CHECK = """
import importlib, os, sys, traceback
import alembic, flask, marshmallow, orjson, prometheus_client, requests, sqlalchemy  # noqa
failed = 0
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            sys.stderr.write(f"{name}:\\n{traceback.format_exc()}\\n")
            os._exit(1)
        os._exit(0)
    status = os.waitpid(pid, 0)[1]
    if status and os.WIFSIGNALED(status):
        sys.stderr.write(f"{name}: the import was killed by signal {os.WTERMSIG(status)}\\n")
    failed += status != 0
sys.exit(1 if failed else 0)
"""


def _modules() -> list[str]:
    """Every module but the migrations (Alembic loads them by path) and `__main__` (it runs
    the command line)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "migrations" in parts or parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.slow
def test_every_module_imports_first_in_a_new_process():
    modules = _modules()
    assert "lrs_connector.store.evidence" in modules and len(modules) > 100
    run = subprocess.run([sys.executable, "-c", _CHECK, *modules], capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr
