"""A weak token never guards a door of the run server (config/tokens.py): `smsops run`
refuses the config at its place, and a server built with one anyway answers 503 at
that door without comparing (a guess that matched would otherwise get in)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from smsops.cli.common import SANDBOX_SECRET
from tests.daemon.apiserver import API, ENV, api_serving
from tests.daemon.hookserver import serving

WEAK = "hunter2hunter2"
STATUS = "status:\n  token: ${env:STATUS_T}\n"
PROVIDER = (
    "providers:\n  ot:\n    type: opentact\n    token: ${env:OT}\n"
    '    from: "+12017771234"\n    webhook_token: ${env:HOOK_T}\n'
)


def test_each_door_with_a_weak_token_answers_503_even_to_that_token(tmp_path: Path) -> None:
    env = {**ENV, "SMSOPS_API_TOKEN": WEAK, "STATUS_T": WEAK}
    (tmp_path / "hooks").mkdir()
    with serving(tmp_path / "hooks") as hooks:
        hooks.service.runner.env = {**hooks.service.runner.env, "SKY_HOOK": WEAK}
        hook = hooks.post(f"/hooks/sky/receipts?token={WEAK}", "<POSTBACK/>", "text/xml")
    form = {"content-type": "application/x-www-form-urlencoded"}
    with (
        api_serving(tmp_path, API + STATUS, env) as served,
        served.client(authorization=f"Bearer {WEAK}") as client,
    ):
        api = client.post("/v1/messages", json={})
        status = client.get("/status.json")
        login = client.post("/login", content=f"token={WEAK}", headers=form)
    for answer in (api, status, hook):
        assert answer.status_code == 503, answer.text
        assert "secrets.token_urlsafe(32)" in answer.json()["error"]
        assert WEAK not in answer.text
    assert login.status_code == 503
    assert "set-cookie" not in login.headers


def test_run_refuses_a_config_whose_token_is_weak_at_its_place(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(STATUS + PROVIDER)
    env = {**os.environ, "STATUS_T": "s" * 40, "OT": "k", "HOOK_T": WEAK}
    done = subprocess.run(
        [sys.executable, "-m", "smsops", "run", str(tmp_path), "--listen", "127.0.0.1:0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "c.yaml:2:10: the status token (${env:STATUS_T}) is one character repeated" in (
        done.stderr
    )
    assert "c.yaml:8:20: provider 'ot''s webhook_token (${env:HOOK_T}) is 14" in done.stderr
    assert WEAK not in done.stderr
    assert "Traceback" not in done.stderr


def test_the_sandbox_placeholder_is_a_token_the_rule_accepts(tmp_path: Path) -> None:
    """Under --sandbox every variable is SANDBOX_SECRET: the hook door takes it."""
    (tmp_path / "hooks").mkdir()
    with serving(tmp_path / "hooks") as served:
        served.service.runner.env = {**served.service.runner.env, "SKY_HOOK": SANDBOX_SECRET}
        body = "<POSTBACK><ORIGIN>SMS_MT</ORIGIN><CODE>N202</CODE><TRACKINGID>t</TRACKINGID>"
        answer = served.post(
            f"/hooks/sky/receipts?token={SANDBOX_SECRET}", body + "</POSTBACK>", "text/xml"
        )
    assert answer.status_code == 200, answer.text
