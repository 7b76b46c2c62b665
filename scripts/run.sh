#!/bin/sh
# The main job on the examples: validate the example config.
set -eu
cd "$(dirname "$0")/.."
sh scripts/bootstrap.sh
.venv/bin/smsops validate examples/configs
