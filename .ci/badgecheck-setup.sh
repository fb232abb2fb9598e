#!/usr/bin/env bash
# Install the Open Badges 2.0 reference verifier (PyPI `badgecheck` 1.2.0) in its own
# virtualenv for tests/badges/test_badgecheck.py and print the path of its python.
#
# badgecheck's own pins cannot be satisfied any more, and the python-jose it pins does not
# import on Python >= 3.10: install it without dependencies, then what it needs with the
# relaxed pins below (checked on Python 3.11 with the packages from PyPI).
# Usage: export LRS_CONNECTOR_TEST_BADGECHECK_PYTHON="$(.ci/badgecheck-setup.sh [VENV_DIR])"
set -euo pipefail
venv="${1:-${BADGECHECK_VENV:-/work/badgecheck-venv}}"
if ! "$venv/bin/python" -c "import openbadges.verifier" >/dev/null 2>&1; then
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet --no-deps "badgecheck==1.2.0" >&2
  "$venv/bin/python" -m pip install --quiet \
    aniso8601 "Click==6.7" future "jsonschema==2.6.0" "language-tags==0.4.3" \
    "openbadges-bakery==2.0.0" "puremagic==1.6" pycryptodome "pydux==0.2.2" "PyLD==0.7.1" \
    "python-jose>=3.3" "python-mimeparse==1.6.0" pytz requests requests_cache \
    "rfc3986>=1.5.0" "validators==0.11.2" >&2
fi
"$venv/bin/python" -c "import openbadges.verifier, openbadges_bakery" >&2
echo "$venv/bin/python"
