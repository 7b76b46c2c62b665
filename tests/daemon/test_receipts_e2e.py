"""Issue 21's acceptance: `smsops run --sandbox` hears back, over real loopback sockets.

The run sends one schedule through Skycore and one through Twilio; the
sandbox posts each message's receipts to the run's own /hooks (Skycore's
XML postbacks with the webhook token, Twilio's signed status callbacks):
N202 / delivered for some recipients and E202 / undelivered for others
(`picked` by number), some posted before the send's own answer (the receipt
races the settle), some twice. Then a bad token, a bad signature and a
malformed body are posted by hand: each is refused and counted, and the
ledger's counts are exactly what the picks say, before and after.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from smsops.cli.common import SANDBOX_SECRET
from smsops.ledger.sqlite import SqliteLedger
from smsops.providers.twilio_hooks import twilio_signature
from smsops.sandbox.loop import picked
from tests.daemon.daemon import Daemon, running, until

NUMBERS = [f"+4474001234{i:02d}" for i in range(10)]
SHARES = {"undelivered_share": 0.4, "first_share": 0.3, "twice_share": 0.3}
PROVIDERS = """\
providers:
  sky:
    type: skycore
    base_url: https://sky.example.invalid/api
    api_key: ${env:SKY_KEY}
    from: "12025550100"
    webhook_token: ${env:SKY_HOOK}
  tw:
    type: twilio
    account_sid: ${env:TW_SID}
    auth_token: ${env:TW_TOKEN}
    from: "+12025550101"
    status_callback: https://smsops.example.test/hooks/tw/receipts
    inbound_url: https://smsops.example.test/hooks/tw/inbound
"""


def config(enabled: bool) -> str:
    contacts = ", ".join(f"{{phone: '{n}'}}" for n in NUMBERS)
    return PROVIDERS + (
        "templates:\n"
        "  news: {category: marketing, body: 'News. Reply STOP to opt out.'}\n"
        "  ship: {category: transactional, body: 'Shipped.'}\n"
        f"audiences:\n  all: {{contacts: [{contacts}]}}\n"
        "schedules:\n"
        f"  news: {{template: news, audience: all, provider: sky, quiet_hours: null, "
        f"enabled: {str(enabled).lower()}}}\n"
        f"  ship: {{template: ship, audience: all, provider: tw, enabled: {str(enabled).lower()}}}\n"
    )


def sandbox_url(daemon: Daemon) -> str:
    until(lambda: "points at http" in daemon.logs())
    found = re.search(r"points at (http://127\.0\.0\.1:\d+)", daemon.logs())
    assert found is not None
    return found[1]


def expected() -> dict[str, dict[str, int]]:
    undelivered = sum(picked(n, "undelivered", SHARES["undelivered_share"]) for n in NUMBERS)
    counts = {"delivered": len(NUMBERS) - undelivered, "undelivered": undelivered}
    return {"news": counts, "ship": counts}


def stats(ledger: Path) -> dict[str, dict[str, int]]:
    opened = SqliteLedger(ledger)
    try:
        return opened.stats()
    finally:
        opened.close()


def hook(daemon: Daemon, path: str, body: str, content_type: str, **headers: str) -> int:
    with httpx.Client(base_url=daemon.base, timeout=10) as client:
        sent = client.post(path, content=body, headers={"content-type": content_type, **headers})
        return sent.status_code


def metric(daemon: Daemon, provider: str, outcome: str) -> float | None:
    labels = f'kind="receipts",outcome="{outcome}",provider="{provider}"'
    return daemon.metric(f"smsops_hooks_total{{{labels}}}")


def receipts(daemon: Daemon, provider: str, status: str) -> float | None:
    return daemon.metric(f'smsops_receipts_total{{provider="{provider}",status="{status}"}}')


def test_receipts_reach_the_ledger_exactly_and_bad_ones_change_nothing(tmp_path: Path) -> None:
    # the numbers pick some of each: delivered and not, early and late, once and twice
    for name in ("undelivered", "first", "twice"):
        chosen = [picked(n, name, SHARES[f"{name}_share"]) for n in NUMBERS]
        assert any(chosen), name
        assert not all(chosen), name
    root = tmp_path / "config"
    root.mkdir()
    (root / "smsops.yaml").write_text(config(enabled=False))
    ledger = tmp_path / "l.sqlite"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with running(root, ledger, env, extra=["--sandbox"]) as daemon:
        sandbox = sandbox_url(daemon)
        with httpx.Client(timeout=10) as client:
            assert client.put(sandbox + "/_sandbox/callbacks", json=SHARES).is_success
        (root / "smsops.yaml").write_text(config(enabled=True))  # reloaded: both send now
        until(lambda: stats(ledger) == expected(), seconds=60)

        with httpx.Client(timeout=10) as client:
            posts: dict[str, Any] = client.get(sandbox + "/_sandbox/callbacks").json()["posts"]
        twice = sum(picked(n, "twice", SHARES["twice_share"]) for n in NUMBERS)
        assert posts["posted"] == 2 * (2 * len(NUMBERS) + 2 * twice)  # interim + final each
        assert posts["answers"] == {"200": posts["posted"]}
        assert posts["failed"] == posts["refused"] == posts["dropped"] == 0
        for provider in ("sky", "tw"):
            # early receipts were kept and applied by the settle; repeated ones changed nothing
            assert (receipts(daemon, provider, "parked") or 0) >= 1
            assert (receipts(daemon, provider, "duplicate") or 0) >= 1

        # a delivered message's E202, with a bad token: refused, nothing changes
        flip = "<POSTBACK><ORIGIN>SMS_MT</ORIGIN><CODE>E202</CODE><TRACKINGID>x</TRACKINGID></POSTBACK>"
        assert hook(daemon, "/hooks/sky/receipts?token=wrong", flip, "application/xml") == 401
        assert (
            hook(
                daemon,
                f"/hooks/sky/receipts?token={SANDBOX_SECRET}",
                "<POSTBACK>",
                "application/xml",
            )
            == 400
        )
        form = "MessageSid=SMx&MessageStatus=undelivered"
        url = "http://127.0.0.1/hooks/tw/receipts"
        bad = twilio_signature(url, [("MessageSid", "SMx"), ("MessageStatus", "undelivered")], "no")
        assert hook(daemon, "/hooks/tw/receipts", form, "application/x-www-form-urlencoded",
                    **{"x-twilio-signature": bad}) == 401  # fmt: skip
        assert metric(daemon, "sky", "unauthorized") == 1
        assert metric(daemon, "sky", "malformed") == 1
        assert metric(daemon, "tw", "unauthorized") == 1
        assert stats(ledger) == expected()
    assert daemon.code == 0, daemon.stderr
    assert "Traceback" not in daemon.stderr


LATER = """\
  news-2: {template: news, audience: all, provider: sky, quiet_hours: null}
  ship-2: {template: ship, audience: all, provider: tw}
  ship-respecting: {template: ship, audience: all, provider: tw, respect_opt_out: true}
"""


def smsops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smsops", *args], capture_output=True, text=True, check=False
    )


def plan_skips(root: Path, ledger: Path) -> dict[str, dict[str, int]]:
    """The opted_out skips of each schedule of a plan with LATER's schedules added."""
    (root / "later.yaml").write_text("schedules:\n" + LATER)
    try:
        done = smsops("plan", str(root), "--ledger", str(ledger), "--format", "json")
    finally:
        (root / "later.yaml").unlink()
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    return {
        s["schedule"]: {k: v for k, v in s["skipped"].items() if k == "opted_out"}
        for s in plan["schedules"]
    }


def inject(sandbox: str, number: str, text: str, provider: str) -> None:
    body = {"from": number, "to": "12025550100", "text": text, "provider": provider}
    with httpx.Client(timeout=10) as client:
        assert client.post(sandbox + "/_sandbox/inbound", json=body).status_code == 202


def suppressions(ledger: Path, *more: str) -> Any:
    done = smsops("suppressions", "list", "--ledger", str(ledger), "--format", "json", *more)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_stop_and_start_by_text_reach_the_suppression_list_and_the_plan(tmp_path: Path) -> None:
    root = tmp_path / "config"
    root.mkdir()
    (root / "smsops.yaml").write_text(config(enabled=True))
    ledger = tmp_path / "l.sqlite"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with running(root, ledger, env, extra=["--sandbox"]) as daemon:
        sandbox = sandbox_url(daemon)
        until(lambda: sum(sum(c.values()) for c in stats(ledger).values()) == 2 * len(NUMBERS))
        inject(sandbox, NUMBERS[0], " stop ", "sky")  # Skycore's SMS_MO N211
        until(lambda: len(suppressions(ledger)) == 1)
        skips = plan_skips(root, ledger)
        assert skips["news-2"] == {"opted_out": 1}  # marketing: skipped
        assert skips["ship-2"] == {}  # transactional: still sent...
        assert skips["ship-respecting"] == {"opted_out": 1}  # ...unless the schedule says so
        inject(sandbox, NUMBERS[0], "START", "tw")  # Twilio's signed inbound form
        until(lambda: suppressions(ledger) == [])
        assert all(not skips for skips in plan_skips(root, ledger).values())
        history = suppressions(ledger, "--history")
    assert [(e["action"], e["source"], e["keyword"]) for e in history] == [
        ("opt_out", "sky", "STOP"),
        ("opt_in", "tw", "START"),
    ]
    assert daemon.code == 0, daemon.stderr
