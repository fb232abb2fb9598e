#!/usr/bin/env bash
# Install a real LRS (Ralph, PyPI `ralph-malph`) in its own virtualenv for
# tests/integration/test_ralph.py and print the path of its `ralph` executable.
#
# Ralph pins its own versions of pydantic, fastapi and friends, so it never shares the
# connector's virtualenv. Its `[lrs]` extra lacks `requests`, which its forwarding needs.
# Usage: export LRS_CONNECTOR_TEST_RALPH_BIN="$(.ci/ralph-setup.sh [VENV_DIR])"
set -euo pipefail
venv="${1:-${RALPH_VENV:-/work/ralph-venv}}"
if [ ! -x "$venv/bin/ralph" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet "ralph-malph[cli,lrs]==5.1.0" requests >&2
fi
"$venv/bin/ralph" --help >/dev/null
echo "$venv/bin/ralph"
