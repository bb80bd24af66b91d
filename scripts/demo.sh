#!/usr/bin/env bash
# Set up, then run the embedded demo: a real h2 measurement of local servers (no Internet).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec python -m pytest_spider demo "$@"
