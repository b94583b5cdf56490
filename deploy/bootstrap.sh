#!/usr/bin/env bash
# Prepare this machine once: the Python environment (.venv) and every service's install (cached).
# Idempotent and quick when nothing changed; called by deploy/run.sh and deploy/test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "Python >= 3.11 is required (found $("$PYTHON" --version 2>&1)); set PYTHON=..." >&2; exit 1; }

if [[ ! -x .venv/bin/python ]]; then
    echo "[bootstrap] creating .venv with $("$PYTHON" --version)" >&2
    if ! "$PYTHON" -m venv .venv 2>/dev/null; then
        # Debian's python3 ships venv separately.
        source deploy/local/lib.sh && apt_install python3-venv && "$PYTHON" -m venv .venv
    fi
fi

# Reinstall only when the dependency list or the pins change.
stamp=".venv/.zvt-deps"
wanted="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
    echo "[bootstrap] installing Python dependencies" >&2
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -c constraints.txt -e '.[dev]'
    echo "$wanted" >"$stamp"
fi

# Headless Chromium for the dashboard's browser test (tests/integration/workflows/test_dashboard.py).
(source deploy/local/lib.sh && apt_install chromium)

bash deploy/local/stack.sh install
