"""Issue 23's acceptance: the status page in a real headless Chromium against `smsops run --sandbox`.

One daemon, one browser for every check. The run sends two schedules through the
sandbox with faults on (every 4th request's connection dropped: uncertain; every 5th
answered 400: failed; every 7th 429: a rate-limit wait, then retried) and receipts
posted back (delivered / undelivered); the ledger was seeded before the start with
what a live run cannot make in seconds (a closed window's expired sends, under a
third, disabled schedule) and with uncertain sends of a hostile schedule name (names
in a ledger are anyone's: an older config, another tool). Then a config change with
hostile text where a key goes is refused, so the reload error quotes it (the page
shows no template body: config text reaches it this way).

Checked: every figure on the page equals the ledger's (read here with sqlite3, not
through smsops) and each provider's requests equal /metrics'; the hostile name and
text appear as text; no console error (a CSP violation is one); no horizontal
overflow at 360 px; axe-core finds no serious or critical violation; a full-page
screenshot is taken (docs/images/status-page.png is scripts/status_screenshot.py's, of
an ordinary run: the hostile strings here are no example).

Skips, saying why, without a Chromium (Debian's `chromium`: scripts/test.sh installs
it as root) or without Playwright's Python package (the dev extra).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smsops.cli.common import SANDBOX_SECRET
from smsops.core.terminal import printable
from smsops.ledger.base import Status
from smsops.ledger.sqlite import SqliteLedger
from tests.daemon.daemon import Daemon, running, until
from tests.ledger.seeding import row, write

sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright (the dev extra)")
axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright")
CHROMIUM = os.environ.get("SMSOPS_CHROMIUM") or shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium: apt-get install -y chromium (scripts/test.sh does)"
)

ROOT = Path(__file__).resolve().parents[2]
TOKEN = SANDBOX_SECRET  # under --sandbox every ${env:...} is this placeholder
HOSTILE_NAME = '"><img src=x onerror=alert(1)><script>alert(2)</script>\u202e{{ 7*7 }}'
HOSTILE_TEXT = "<script>alert(3)</script><img src=x onerror=alert(4)>"
STATUSES = [s.value for s in Status]


def numbers(first: int) -> str:
    return ", ".join(f"{{phone: '+4474001235{i:02d}'}}" for i in range(first, first + 6))


def config(enabled: bool) -> str:
    on = str(enabled).lower()
    return (
        "status:\n  token: ${env:STATUS_TOKEN}\n"
        "providers:\n"
        "  sky:\n    type: skycore\n    base_url: https://sky.example.invalid/api\n"
        "    api_key: ${env:SKY_KEY}\n    from: '12025550100'\n    webhook_token: ${env:SKY_HOOK}\n"
        "  aoc:\n    type: aoc\n    base_url: https://aoc.example.invalid\n"
        "    api_key: ${env:AOC_KEY}\n    sender: ACME\n    bulk_size: 1\n"
        "templates:\n"
        "  news: {category: transactional, body: 'News for you.'}\n"
        "audiences:\n"
        f"  early: {{contacts: [{numbers(0)}]}}\n"
        f"  late: {{contacts: [{numbers(10)}]}}\n"
        "schedules:\n"
        f"  morning-news: {{template: news, audience: early, provider: sky, enabled: {on}}}\n"
        f"  evening.news_2: {{template: news, audience: late, provider: aoc, enabled: {on}}}\n"
        "  archive: {template: news, audience: early, provider: sky, enabled: false}\n"
    )


def seed(ledger: Path) -> None:
    """What a live run cannot make in seconds: a closed window's sends (expired), and
    uncertain sends under a name no config may hold."""
    seeded = SqliteLedger(ledger)
    try:
        write(
            seeded,
            [
                row("archive", "2027-02-28T09:00:00+00:00", "+447400123470", Status.EXPIRED),
                row("archive", "2027-02-28T09:00:00+00:00", "+447400123471", Status.EXPIRED),
                row("archive", "2027-02-28T09:00:00+00:00", "+447400123472", Status.SENT),
                row(HOSTILE_NAME, HOSTILE_NAME, "+447400123473", Status.UNCERTAIN),
            ],
        )
    finally:
        seeded.close()


def ledger_counts(ledger: Path) -> dict[tuple[str, str], dict[str, int]]:
    """(schedule, occurrence) -> status -> rows, read with sqlite3 directly."""
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT schedule, occurrence, status, count(*) FROM sends GROUP BY 1, 2, 3"
        ).fetchall()
    db.close()
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for schedule, occurrence, status, count in rows:
        counts.setdefault((schedule, occurrence), {})[status] = count
    return counts


# What the page shows, read from its DOM: the data-* attributes the template writes.
READ_PAGE = """() => {
  const occurrences = [];
  for (const article of document.querySelectorAll('article.schedule')) {
    for (const tr of article.querySelectorAll('tr[data-occurrence]')) {
      const cells = {};
      for (const td of tr.querySelectorAll('td[data-status]')) cells[td.dataset.status] = Number(td.textContent);
      occurrences.push({schedule: article.dataset.schedule, occurrence: tr.dataset.occurrence,
                        cells, rate: tr.querySelector('[data-field=delivery-rate]').textContent});
    }
  }
  const uncertain = [...document.querySelectorAll('ul.uncertain li')].map(li => ({
    schedule: li.dataset.schedule, occurrence: li.dataset.occurrence,
    rows: Number(li.querySelector('[data-field=uncertain-rows]').textContent),
    resolve: li.querySelector('[data-field=resolve-sent]').textContent}));
  const providers = [...document.querySelectorAll('tr[data-provider]')].map(tr => ({
    provider: tr.dataset.provider,
    requests: Number(tr.querySelector('[data-field=requests]').textContent),
    throttled: Number(tr.querySelector('[data-field=throttled]').textContent)}));
  const error = document.querySelector('[data-field=reload-error]');
  return {occurrences, uncertain, providers, error: error && error.textContent,
          generation: document.querySelector('[data-field=generation]').textContent,
          scripts: document.scripts.length,
          images: document.querySelectorAll('img').length};
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


def sandbox_url(daemon: Daemon) -> str:
    until(lambda: "points at http" in daemon.logs())
    found = re.search(r"points at (http://127\.0\.0\.1:\d+)", daemon.logs())
    assert found is not None
    return found[1]


def provider_requests(daemon: Daemon, provider: str) -> float:
    sample = f'smsops_provider_request_seconds_count{{provider="{provider}"}}'
    return daemon.metric(sample) or 0.0


def settled(ledger: Path) -> bool:
    counts = ledger_counts(ledger)
    mine = [c for (s, _), c in counts.items() if s in ("morning-news", "evening.news_2")]
    return sum(sum(c.values()) for c in mine) == 12 and not any("pending" in c for c in mine)


def test_the_page_in_a_browser(tmp_path: Path, browser: Any) -> None:
    root = tmp_path / "config"
    root.mkdir()
    (root / "smsops.yaml").write_text(config(enabled=False))
    ledger = tmp_path / "l.sqlite"
    seed(ledger)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
    }
    with running(root, ledger, env, extra=["--sandbox"]) as daemon:
        sandbox = sandbox_url(daemon)
        with httpx.Client(timeout=10) as client:
            shares = {"undelivered_share": 0.7}  # 4 of the 6 numbers: some are met by faults
            assert client.put(sandbox + "/_sandbox/callbacks", json=shares).is_success
            faults = {"drop_every": 4, "raw_every": 5, "raw_status": 400, "raw_body": "{}"}
            faults.update(status_every=7, status=429, retry_after=0)  # waits, then retried
            assert client.put(sandbox + "/_sandbox/faults", json=faults).is_success
        (root / "smsops.yaml").write_text(config(enabled=True))
        until(lambda: settled(ledger), seconds=30)
        # a change with hostile text where a key goes: refused, quoted with its place (the
        # page shows no template body; this is config text that reaches it)
        bad = f"templates:\n  worse: {{category: transactional, body: x, '{HOSTILE_TEXT}': 1}}\n"
        (root / "bad.yaml").write_text(bad)
        until(lambda: daemon.json("/healthz").get("error") is not None)

        context = browser.new_context(viewport={"width": 360, "height": 800})
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        # the login form: a wrong token, then the right one (a session cookie from then on)
        assert page.goto(daemon.base + "/").status == 401
        page.fill("#token", "wrong")
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert "not accepted" in page.inner_text("[role=alert]")
        page.fill("#token", TOKEN)
        with page.expect_navigation():
            page.click("button[type=submit]")
        page.wait_for_selector("article.schedule")
        problems.clear()  # the two 401 answers are the browser's console errors, by design

        for _ in range(20):  # a late receipt may land between the reads: read until stable
            before = ledger_counts(ledger)
            page.reload()
            shown = page.evaluate(READ_PAGE)
            if ledger_counts(ledger) == before:
                break
        counts = before

        # every figure on the page equals the ledger's
        assert shown["occurrences"], shown
        for occurrence in shown["occurrences"]:
            key = (occurrence["schedule"], occurrence["occurrence"])
            in_ledger = counts[key]
            for status in STATUSES:
                assert occurrence["cells"][status] == in_ledger.get(status, 0), (key, status)
            final = in_ledger.get("delivered", 0) + in_ledger.get("undelivered", 0)
            rate = f"{in_ledger.get('delivered', 0) / final:.0%}" if final else "-"
            assert occurrence["rate"] == rate
        on_page = {(o["schedule"], o["occurrence"]) for o in shown["occurrences"]}
        assert on_page == {k for k in counts if k[0] != HOSTILE_NAME}
        uncertain = {key: c["uncertain"] for key, c in counts.items() if c.get("uncertain", 0) > 0}
        assert {(u["schedule"], u["occurrence"]): u["rows"] for u in shown["uncertain"]} == {
            (printable(s), printable(o)): rows for (s, o), rows in uncertain.items()
        }
        seen = {status for c in counts.values() for status in c}
        assert {"sent", "failed", "uncertain", "expired", "delivered", "undelivered"} <= seen
        for provider in shown["providers"]:
            assert provider["requests"] == provider_requests(daemon, provider["provider"])
        assert sum(p["requests"] for p in shown["providers"]) >= 12
        assert sum(p["throttled"] for p in shown["providers"]) >= 1  # the 429s

        # hostile name and text: shown as text, nothing of them ran or rendered
        written = printable(HOSTILE_NAME)  # its right-to-left override written out
        hostile = next(u for u in shown["uncertain"] if u["schedule"] == written)
        assert hostile["occurrence"] == written
        assert "smsops ledger resolve --as sent --schedule " in hostile["resolve"]
        assert HOSTILE_TEXT in shown["error"]
        assert "bad.yaml:" in shown["error"]
        assert shown["generation"] == "2"
        assert shown["scripts"] == 1  # the page's own reload (allowed by its hash)
        assert shown["images"] == 0
        assert problems == []

        # usable at 360 px: nothing wider than the screen
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert page.evaluate("document.body.scrollWidth") <= 360

        # accessibility: axe-core, nothing serious or critical
        results = axe_playwright.Axe().run(page)
        serious = [
            (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == []

        # a full-page screenshot renders at a desktop width
        page.set_viewport_size({"width": 1100, "height": 800})
        shot = tmp_path / "status-page.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000

        # signing out (the page's button, under its CSP) ends the session: the form again,
        # and the cookie the browser held no longer opens the page
        with page.expect_navigation():
            page.click("form.logout button")
        assert page.locator("#token").count() == 1
        assert not [c for c in context.cookies() if c["name"] == "smsops_status"]
        assert page.goto(daemon.base + "/").status == 401
        context.close()
    assert daemon.code == 0, daemon.stderr
    # the faults asked for (dropped connections) are not errors: no traceback at all
    assert "Traceback" not in daemon.stderr
