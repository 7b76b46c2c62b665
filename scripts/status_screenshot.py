"""Write docs/images/status-page.png: the status page of a realistic `smsops run --sandbox`.

The browser test (tests/daemon/test_status_page_browser.py) checks the page
with hostile names and a refused reload; a reader of docs/status-page.md
should see what an ordinary day looks like instead. So this script runs its
own daemon: schedules like examples/configs' with ordinary names, a ledger
seeded with the past days' occurrences (mostly delivered, some undelivered,
a failed send or two, two uncertain sends waiting for a person, an expired
occurrence of a paused schedule), and today's sends made live through the
sandbox with a few faults on, so the providers' last hour has traffic. The
config's folder is never shown (no reload is refused), so no temporary path is
in the picture.

Run by scripts/status-screenshot.sh (needs Chromium and the dev extra).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from smsops.cli.common import SANDBOX_SECRET  # noqa: E402
from smsops.ledger.base import SendRecord, Status  # noqa: E402
from smsops.ledger.sqlite import SqliteLedger  # noqa: E402
from smsops.schedule.occurrences import occurrence_label  # noqa: E402
from tests.daemon.daemon import running, until  # noqa: E402
from tests.ledger.seeding import BY, write  # noqa: E402

OUT = ROOT / "docs" / "images" / "status-page.png"
CHROMIUM = os.environ.get("SMSOPS_CHROMIUM") or shutil.which("chromium")
TOKEN = SANDBOX_SECRET  # under --sandbox every ${env:...} is this placeholder
NAMES = [
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Ivy",
    "Lily",
    "Isabella",
    "Rosie",
    "Sophia",
    "Grace",
    "Freya",
    "Noah",
    "Oliver",
    "George",
    "Arthur",
    "Leo",
    "Muhammad",
    "Harry",
    "Oscar",
    "Archie",
    "Henry",
    "Theo",
    "Jack",
]
PEOPLE = [(f"+4474009{i:05d}", name) for i, name in enumerate(NAMES, start=31)]


def config(now: datetime, live: bool) -> str:
    """examples/configs-like schedules; the daily reminder is due at this hour (live sends,
    once `live`)."""
    on = str(live).lower()
    contacts = "\n".join(f"      - {{phone: '{p}', first_name: {n}}}" for p, n in PEOPLE)
    return f"""\
status:
  token: ${{env:STATUS_TOKEN}}
providers:
  sky:
    type: skycore
    base_url: https://sky.example.invalid/api/v2
    api_key: ${{env:SKYCORE_API_KEY}}
    from: "12025550100"
    webhook_token: ${{env:SKY_HOOK}}
    price_per_segment: 0.0350
  ot:
    type: opentact
    token: ${{env:OPENTACT_JWT}}
    from: "+12017771234"
    webhook_token: ${{env:OT_HOOK}}
    price_per_segment: 0.0075
templates:
  shipped:
    category: transactional
    body: "Hi {{{{ first_name }}}}, your order has shipped. Track it at acme.example/t"
  reminder:
    category: transactional
    body: "Hi {{{{ first_name }}}}, a reminder of your appointment tomorrow at 10:30."
  newsletter:
    category: marketing
    body: "{{{{ first_name }}}}, this week at ACME: the spring range. Reply STOP to opt out."
audiences:
  customers:
    contacts:
{contacts}
schedules:
  order-shipped:
    template: shipped
    audience: customers
    provider: sky
    enabled: {on}
  appointment-reminder:
    template: reminder
    audience: customers
    provider: [sky, ot]
    trigger: {{cron: "0 {now.hour} * * *"}}
    window: 3h
    enabled: {on}
  weekly-newsletter:
    template: newsletter
    audience: customers
    provider: ot
    trigger: {{cron: "0 9 * * {(now - timedelta(days=2)).isoweekday() % 7}"}}
    window: 2h
  winter-sale:
    template: newsletter
    audience: customers
    provider: ot
    trigger: {{cron: "0 9 1 12 *"}}
    window: 2h
    enabled: false
"""


def seeded(now: datetime) -> list[tuple[datetime, list[SendRecord]]]:
    """The past: each occurrence's rows, as the runs of those days left them."""
    rng = random.Random(2027)  # noqa: S311 (a picture, not a secret)
    past: list[tuple[datetime, list[SendRecord]]] = []

    def occurrence(
        schedule: str, fire: datetime, provider: str, odds: list[tuple[Status, int]]
    ) -> None:
        statuses = [status for status, n in odds for _ in range(n)]
        rng.shuffle(statuses)
        label = occurrence_label(fire)
        rows = [
            SendRecord.claim(
                schedule, label, phone, provider=provider, template=schedule, text_hash="h",
                segments=1, now=fire, claimed_by=BY,
            ).settled(status, fire, message_id=f"{schedule}-{label}-{phone}")
            for (phone, _), status in zip(PEOPLE, statuses, strict=True)
        ]  # fmt: skip
        past.append((fire, rows))

    for days in (4, 3, 2, 1):
        fire = now - timedelta(days=days)
        undelivered, failed = rng.randint(0, 2), rng.randint(0, 1)
        ok = len(PEOPLE) - undelivered - failed
        occurrence(
            "appointment-reminder",
            fire,
            "sky",
            [(Status.DELIVERED, ok), (Status.UNDELIVERED, undelivered), (Status.FAILED, failed)],
        )
    newsletter = (now - timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    occurrence(
        "weekly-newsletter",
        newsletter,
        "ot",
        [(Status.DELIVERED, 19), (Status.UNDELIVERED, 2), (Status.SENT, 1), (Status.UNCERTAIN, 2)],
    )
    occurrence(
        "weekly-newsletter",
        newsletter - timedelta(days=7),
        "ot",
        [(Status.DELIVERED, 22), (Status.UNDELIVERED, 1), (Status.FAILED, 1)],
    )
    sale = datetime(now.year - 1, 12, 1, 9, tzinfo=UTC)
    occurrence("winter-sale", sale, "ot", [(Status.DELIVERED, 20), (Status.EXPIRED, 4)])
    return past


def main() -> int:
    if CHROMIUM is None:
        print("needs Chromium: apt-get install -y chromium", file=sys.stderr)
        return 1
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)  # the reminder's fire
    with tempfile.TemporaryDirectory(prefix="smsops-screenshot-") as tmp:
        folder = Path(tmp)
        root = folder / "config"
        root.mkdir()
        # written disabled first: the faults are set before anything is sent
        (root / "smsops.yaml").write_text(config(now, live=False))
        ledger = folder / "ledger.sqlite"
        seed = SqliteLedger(ledger)
        try:
            for fire, rows in seeded(now):
                write(seed, rows, now=fire)
        finally:
            seed.close()
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
        }
        with running(root, ledger, env, extra=["--sandbox"]) as daemon:
            until(lambda: "points at http" in daemon.logs())
            found = re.search(r"points at (http://127\.0\.0\.1:\d+)", daemon.logs())
            assert found is not None
            sandbox = found[1]
            with httpx.Client(timeout=10) as client:
                client.put(sandbox + "/_sandbox/callbacks", json={"undelivered_share": 0.08})
                faults = {"drop_every": 19, "raw_every": 23, "raw_status": 400, "raw_body": "{}"}
                faults.update(status_every=11, status=429, retry_after=0)
                client.put(sandbox + "/_sandbox/faults", json=faults)
            (root / "smsops.yaml").write_text(config(now, live=True))
            today = occurrence_label(now)
            _settled(ledger, today)
            _screenshot(daemon.base)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


def _counts(ledger: Path, today: str) -> dict[str, int]:
    """The live occurrences' rows per status (read with sqlite3, not through smsops)."""
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT status, count(*) FROM sends WHERE occurrence IN ('once', ?) GROUP BY 1",
            (today,),
        ).fetchall()
    db.close()
    return dict(rows)


def _settled(ledger: Path, today: str) -> None:
    """Both live schedules sent, nothing pending; then the receipts, for up to 10 s (a send
    that failed over to ot, which posts none here, stays `sent`)."""
    sent = lambda: _counts(ledger, today)  # noqa: E731
    until(lambda: sum(sent().values()) == 2 * len(PEOPLE) and not sent().get("pending"), 60)
    deadline = time.monotonic() + 10
    while sent().get("sent") and time.monotonic() < deadline:
        time.sleep(0.2)


def _screenshot(base: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            page.goto(base + "/")
            page.fill("#token", TOKEN)
            with page.expect_navigation():
                page.click("button[type=submit]")
            page.wait_for_selector("article.schedule")
            OUT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(OUT), full_page=True)
        finally:
            browser.close()


if __name__ == "__main__":
    sys.exit(main())
