#!/usr/bin/env bash
# The test command: bring up the stack, then lint, type-check and run every test against it.
# Extra arguments go to pytest (e.g. `bash deploy/test.sh -m "not integration"` for unit tests only).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash deploy/bootstrap.sh
bash deploy/local/stack.sh up
.venv/bin/zvt db migrate

echo "== ruff" >&2
.venv/bin/ruff check .
echo "== mypy" >&2
.venv/bin/mypy
echo "== pytest" >&2
.venv/bin/pytest "$@"
