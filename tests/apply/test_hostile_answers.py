"""Issue 19 items 1 and 2 over real loopback sockets: hostile answers end in the ledger.

A hostile provider (its own sandbox, answering what the case injects) gets
three sends; a healthy provider on another sandbox gets thirty. Whatever
the hostile one answers, `apply` ends without a traceback, each of its rows
is `uncertain` or `failed` with a reason (nothing `pending`), an answer
that may have been taken never fails over, and the healthy provider's
thirty sends all go out.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smsops.sandbox.server import Sandbox
from tests.attacks.harness import run_cli, write_config

FEW, MANY = 3, 30
CREDENTIALS = {
    "opentact": 'token: "${env:OT_JWT}", from: "+12017771234"',
    "aoc": 'api_key: "${env:AOC_KEY}", sender: ACME, bulk_size: 3',
    "sendwithses": 'template_keys: {transactional: "${env:SES_KEY}"}',
    "skycore": 'api_key: "${env:SKY_KEY}", from: "12025550100"',
}
DEEP = "[" * 100_000 + "]" * 100_000


def raw(status: int, body: Any = "", **headers: str) -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    return {"raw_every": 1, "raw_status": status, "raw_headers": headers, "raw_body": text}


# (case, hostile provider type, sandbox faults, environment, status of its rows)
CRASHED_A_ROUND = [
    ("retry-after-inf", "opentact", raw(429, **{"Retry-After": "inf"}), {}, "failed"),
    ("retry-after-1e12", "opentact", raw(503, **{"Retry-After": "1000000000000"}), {}, "failed"),
    ("deep-json", "opentact", raw(200, DEEP, **{"Content-Type": "application/json"}), {}, "uncertain"),
    ("charset-rot13", "opentact", raw(200, "{}", **{"Content-Type": "text/plain; charset=rot13"}), {}, "uncertain"),
    ("charset-hex", "opentact", raw(502, "busy", **{"Content-Type": "text/plain; charset=hex"}), {}, "uncertain"),
    ("charset-bz2", "opentact", raw(500, "busy", **{"Content-Type": "text/html; charset=bz2_codec"}), {}, "uncertain"),
    ("aoc-data-5", "aoc", raw(200, {"data": 5}), {}, "uncertain"),
    ("secret-crlf", "opentact", {}, {"OT_JWT": "eyJ.part\r\nX-Injected: 1"}, "failed"),
]  # fmt: skip
# Answers that may have been taken: uncertain, and never sent again through `good`.
MAY_HAVE_BEEN_TAKEN = [
    ("ses-504-gateway", "sendwithses", raw(504, {"message": "Endpoint request timed out"})),
    ("ses-200-string-true", "sendwithses", raw(200, {"success": "true"})),
    ("skycore-502-failure", "skycore", raw(502, {"status": "Failure", "error-code": "E9"})),
    ("opentact-502-failure", "opentact", raw(502, {"success": False, "message": "boom"})),
    ("aoc-bulk-503", "aoc", raw(503, {"error": "busy"}, **{"Retry-After": "0"})),
]  # fmt: skip


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[Sandbox]:
    with Sandbox() as server:
        yield server


@pytest.fixture
def hostile(hostile_server: Sandbox) -> Iterator[Sandbox]:
    hostile_server.state.reset()
    yield hostile_server
    hostile_server.state.reset()


def config(root: Path, bad_type: str, hostile: Sandbox, good: Sandbox, failover: bool) -> Path:
    few = "".join(f"+4474000{i:05d}\n" for i in range(FEW))
    many = "".join(f"+4474100{i:05d}\n" for i in range(MANY))
    bad_url, good_url = hostile.base_url(bad_type), good.base_url("skycore")
    return write_config(
        root,
        {
            "few.csv": "phone\n" + few,
            "many.csv": "phone\n" + many,
            "smsops.yaml": f"""\
            providers:
              bad: {{type: {bad_type}, base_url: "{bad_url}", {CREDENTIALS[bad_type]}}}
              good: {{type: skycore, base_url: "{good_url}", {CREDENTIALS["skycore"]}}}
            templates:
              note: {{category: transactional, body: "Your order has shipped."}}
            audiences:
              few: {{source: few.csv}}
              many: {{source: many.csv}}
            schedules:
              hostile: {{template: note, audience: few, provider: {"[bad, good]" if failover else "bad"}}}
              healthy: {{template: note, audience: many, provider: good}}
            """,
        },
    )


def rows(ledger: Path) -> list[tuple[str, str, str, str | None]]:
    db = sqlite3.connect(ledger)
    try:
        query = "SELECT schedule, provider, status, error FROM sends ORDER BY schedule"
        return db.execute(query).fetchall()
    finally:
        db.close()


def apply(
    tmp_path: Path, config_dir: Path, env: dict[str, str]
) -> list[tuple[str, str, str, str | None]]:
    ledger = tmp_path / "ledger.sqlite"
    outcome = run_cli(
        ["apply", str(config_dir), "--yes", "--ledger", str(ledger)], cwd=tmp_path, env=env
    )
    outcome.assert_safe(code=1, ledger=ledger)  # no traceback, no secret; 1: some not sent
    found = rows(ledger)
    assert not [row for row in found if row[2] == "pending"], found
    healthy = [row for row in found if row[0] == "healthy"]
    assert [row[2] for row in healthy] == ["sent"] * MANY, outcome.output
    return [row for row in found if row[0] == "hostile"]


@pytest.mark.parametrize(
    ("bad_type", "faults", "env", "status"),
    [case[1:] for case in CRASHED_A_ROUND],
    ids=[case[0] for case in CRASHED_A_ROUND],
)
def test_no_answer_crashes_the_round_or_stops_another_provider(
    tmp_path: Path,
    sandbox: Sandbox,
    hostile: Sandbox,
    bad_type: str,
    faults: dict[str, Any],
    env: dict[str, str],
    status: str,
) -> None:
    hostile.state.faults.update(faults)
    found = apply(tmp_path, config(tmp_path, bad_type, hostile, sandbox, False), env)
    assert [row[2] for row in found] == [status] * FEW, found
    assert all(row[3] for row in found), f"a row without its reason: {found}"
    assert len(sandbox.state.snapshot()) == MANY


@pytest.mark.parametrize(
    ("bad_type", "faults"),
    [case[1:] for case in MAY_HAVE_BEEN_TAKEN],
    ids=[case[0] for case in MAY_HAVE_BEEN_TAKEN],
)
def test_an_answer_that_may_have_been_taken_never_fails_over(
    tmp_path: Path, sandbox: Sandbox, hostile: Sandbox, bad_type: str, faults: dict[str, Any]
) -> None:
    hostile.state.faults.update(faults)
    found = apply(tmp_path, config(tmp_path, bad_type, hostile, sandbox, True), {})
    assert [(row[1], row[2]) for row in found] == [("bad", "uncertain")] * FEW, found
    assert all(row[3] for row in found), f"a row without its reason: {found}"
    assert len(sandbox.state.snapshot()) == MANY  # none of the hostile three went to `good`


def test_a_documented_rejection_fails_over(
    tmp_path: Path, sandbox: Sandbox, hostile: Sandbox
) -> None:
    body = {"success": False, "status": 404, "message": "TNLease and SMSCampaign not found"}
    hostile.state.faults.update(raw(404, body))
    ledger = tmp_path / "ledger.sqlite"
    config_dir = config(tmp_path, "opentact", hostile, sandbox, True)
    outcome = run_cli(["apply", str(config_dir), "--yes", "--ledger", str(ledger)], cwd=tmp_path)
    outcome.assert_safe(code=0, ledger=ledger)
    assert {(row[1], row[2]) for row in rows(ledger)} == {("good", "sent")}
    assert len(sandbox.state.snapshot()) == MANY + FEW
