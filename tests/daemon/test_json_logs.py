"""With SMSOPS_LOG_FORMAT=json every line on stderr is JSON: ours, APScheduler's, uvicorn's,
Python's warnings, and a job that raised (issue 14 found 81 of 467 lines were not)."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from smsops.sandbox.server import Sandbox
from tests.daemon.daemon import running, until

SECRET = "jwt-7f3a91c-value"
NUMBER = "+447400123450"

# Injected into the daemon's process: a job that raises (quoting a secret and a
# number), a job that overstays so APScheduler skips its next runs (its own
# warning), and a Python warning once the logs are set up.
PRELUDE = f"""
import asyncio, warnings
from smsops.daemon import service

_install = service.Service.install_jobs

def _boom():
    raise RuntimeError("token {SECRET} for {NUMBER}")

async def _hog():
    await asyncio.sleep(30)

def install_jobs(self):
    _install(self)
    self.scheduler.add_job(_boom, "interval", seconds=0.2, id="boom")
    self.scheduler.add_job(_hog, "interval", seconds=0.2, id="hog", max_instances=1)
    warnings.warn("a library's deprecation", DeprecationWarning, stacklevel=1)

service.Service.install_jobs = install_jobs
"""


def test_every_stderr_line_is_json_third_parties_and_job_errors_included(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    (tmp_path / "c.yaml").write_text(
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{sandbox.base_url('opentact')}', "
        "token: '${env:OT}', from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: 'Hi'}\n"
        f"audiences:\n  a: {{contacts: [{{phone: '{NUMBER}'}}]}}\n"
        "schedules:\n  s: {template: t, audience: a, provider: ot}\n"
    )
    env = {
        **os.environ,
        "OT": SECRET,
        "SMSOPS_LOG_FORMAT": "json",
        "PYTHONWARNINGS": "default",  # shown once, whatever the environment filters
    }
    with running(tmp_path, tmp_path / "l.sqlite", env, prelude=PRELUDE) as daemon:
        host, port = daemon.base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=2) as probe:
            probe.sendall(b"NOT HTTP AT ALL\r\n\r\n")  # the front door's summary line
            probe.recv(1024)
        until(lambda: "job boom failed" in daemon.logs() and "skipped" in daemon.logs())
        until(lambda: "turned away at the HTTP port: 400: 1" in daemon.logs())
        health = daemon.json("/healthz")
        errors = daemon.metric('smsops_job_errors_total{event="error",job="boom"}')
        time.sleep(0.1)
    assert daemon.code == 0

    lines = daemon.stderr.splitlines()
    entries = [json.loads(line) for line in lines]  # every line, or this raises
    by_logger = {entry["logger"] for entry in entries}
    assert {"smsops.run", "apscheduler.scheduler", "smsops.http", "py.warnings"} <= by_logger
    messages = [entry["message"] for entry in entries]
    assert "job boom failed: RuntimeError: token *** for +44 74** ***450" in messages
    assert any("maximum number of running instances reached" in m for m in messages)
    assert any("a library's deprecation" in m for m in messages)
    assert "Traceback" not in daemon.stderr
    assert "job hog failed" not in daemon.stderr  # the stop cancels it: no failure of ours
    assert SECRET not in daemon.stderr
    assert NUMBER not in daemon.stderr
    assert health["status"] == "degraded"
    assert health["jobs"]["boom"] == "RuntimeError: token *** for +44 74** ***450"
    assert errors is not None
    assert errors >= 1
