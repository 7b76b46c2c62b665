#!/bin/sh
# Regenerate docs/images/status-page.png: the browser test writes its screenshot to a
# temporary folder, and copies it here only when asked (SMSOPS_UPDATE_SCREENSHOT=1), so
# the test suite never changes the tree. Needs Chromium (apt-get install -y chromium).
set -eu
cd "$(dirname "$0")/.."
SMSOPS_UPDATE_SCREENSHOT=1 .venv/bin/python -m pytest -q -p no:xdist \
    tests/daemon/test_status_page_browser.py
