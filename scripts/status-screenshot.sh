#!/bin/sh
# Regenerate docs/images/status-page.png: the status page of a realistic sandbox run
# (ordinary schedules, a ledger of past days, today's sends made live), written by
# scripts/status_screenshot.py. The browser test checks the page with hostile data and
# keeps its screenshot to itself. Needs Chromium (apt-get install -y chromium) and the
# dev extra (Playwright).
set -eu
cd "$(dirname "$0")/.."
.venv/bin/python scripts/status_screenshot.py
