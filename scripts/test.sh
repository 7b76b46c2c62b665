#!/bin/sh
# The whole test suite and the checks CI runs: tests, lint, format, types, layers.
set -eu
cd "$(dirname "$0")/.."
sh scripts/bootstrap.sh dev
.venv/bin/python -m pytest -q "$@"
.venv/bin/ruff check smsops tests bench
.venv/bin/ruff format --check smsops tests bench
.venv/bin/mypy --strict smsops
.venv/bin/lint-imports
