#!/usr/bin/env bash
# Set up, then run the test suite, lint and type checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ruff check .
ruff format --check .
mypy
exec python -m pytest -n 2 "$@"
