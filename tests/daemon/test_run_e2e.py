"""`smsops run` as a subprocess against the sandbox: health, metrics, reload, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from smsops.sandbox.server import Sandbox

NUMBERS = [f"+44740012345{i}" for i in range(3)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


def until(condition: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def write(root: Path, sandbox: Sandbox, schedules: str) -> None:
    contacts = ", ".join(f"{{phone: '{n}', name: P{i}}}" for i, n in enumerate(NUMBERS))
    (root / "smsops.yaml").write_text(
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{sandbox.base_url('opentact')}', "
        "token: '${env:OT}', from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        f"audiences:\n  a: {{contacts: [{contacts}]}}\n"
        "schedules:\n" + schedules
    )


def test_run_serves_sends_reloads_and_stops(tmp_path: Path, sandbox: Sandbox) -> None:
    root = tmp_path / "config"
    root.mkdir()
    write(root, sandbox, "  first: {template: t, audience: a, provider: ot}\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "smsops",
        "run",
        str(root),
        "--listen",
        f"127.0.0.1:{port}",
        "--ledger",
        str(tmp_path / "l.sqlite"),
        "--reload-interval",
        "0.2",
    ]
    env = {**os.environ, "OT": "jwt", "SMSOPS_LOG_FORMAT": "json"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        until(lambda: _answers(base + "/healthz"))
        until(lambda: len(sandbox.state.snapshot()) == 3)
        assert get(base + "/readyz")[0] == 200
        until(
            lambda: (
                'smsops_sends_total{provider="ot",status="sent"} 3.0' in get(base + "/metrics")[1]
            )
        )

        # A valid change: a new `once` schedule goes out when it first appears.
        write(
            root,
            sandbox,
            "  first: {template: t, audience: a, provider: ot}\n"
            "  second: {template: t, audience: a, provider: ot}\n",
        )
        until(lambda: len(sandbox.state.snapshot()) == 6)
        assert json.loads(get(base + "/healthz")[1]) == {"status": "ok", "generation": 2}

        # An invalid change is refused; the old config keeps running.
        (root / "smsops.yaml").write_text(
            (root / "smsops.yaml").read_text() + "  third: {templat: t}\n"
        )
        until(lambda: json.loads(get(base + "/healthz")[1])["status"] == "degraded")
        health = json.loads(get(base + "/healthz")[1])
        assert health["generation"] == 2
        assert "templat" in health["error"]
        assert get(base + "/readyz")[0] == 200

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 10
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        stderr = process.stderr.read() if process.stderr else ""
        if process.stderr:
            process.stderr.close()
    recipients = [m["recipient"] for m in sandbox.state.snapshot()]
    assert sorted(recipients) == sorted(NUMBERS * 2)  # each schedule, each number, once
    logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(entry["message"].startswith("config change refused") for entry in logs)
    assert all("+44740012345" not in line for line in stderr.splitlines())  # masked only
    assert "Traceback" not in stderr


def _answers(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False


def test_a_busy_port_is_a_clear_error_before_anything_runs(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    from smsops.cli import main

    write(tmp_path, sandbox, "  s: {template: t, audience: a, provider: ot}\n")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ledger = tmp_path / "l.sqlite"
        code = main(
            ["run", str(tmp_path), "--listen", f"127.0.0.1:{port}", "--ledger", str(ledger)]
        )
    assert code == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in err
    assert "--listen HOST:PORT" in err
    assert not ledger.exists()  # nothing started, nothing sent
    assert sandbox.state.snapshot() == []
