#!/bin/sh
# The main job on the examples: validate them, then apply them against the
# built-in sandbox (real HTTP on loopback, no accounts), then apply again to
# show that the ledger makes a second run send nothing.
set -eu
cd "$(dirname "$0")/.."
sh scripts/bootstrap.sh
.venv/bin/smsops validate examples/configs
.venv/bin/smsops apply examples/configs --sandbox --yes
.venv/bin/smsops apply examples/configs --sandbox --yes
.venv/bin/smsops ledger stats --ledger .smsops/sandbox-ledger.sqlite
