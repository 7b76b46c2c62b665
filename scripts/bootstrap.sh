#!/bin/sh
# Create .venv and install smsops into it (with the extras named in $1, e.g. "dev").
# Re-installs only when pyproject.toml changed since the last install.
set -eu
cd "$(dirname "$0")/.."
extras="${1:-}"
stamp=".venv/.installed${extras:+-$extras}"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    # --no-compile: byte-compile on first import only what is used (~9 s less here)
    .venv/bin/python -m pip install --quiet --no-compile -e ".${extras:+[$extras]}"
    touch "$stamp"
fi
