#!/usr/bin/env bash
# Set up, then lint (ruff, mypy) and run the test suite (python -m pytest -n 2) twice, each in a
# fresh virtual environment made by nox (noxfile.py): with pytest, pytest-xdist and pluggy at
# the lower bounds pyproject.toml declares, and with the newest releases of everything.
# Arguments go to pytest in both runs, e.g. `bash scripts/test.sh -x -k h2`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec python -m nox --reuse-venv=no -s lint tests-lowest tests-newest -- "$@"
