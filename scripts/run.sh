#!/bin/sh
# The main job on the examples: validate the example config, then preview every message.
set -eu
cd "$(dirname "$0")/.."
sh scripts/bootstrap.sh
.venv/bin/smsops validate examples/configs
.venv/bin/smsops render examples/configs
