"""POST /v1/otp/send and /v1/otp/verify over loopback: the run server, the sandbox, the ledger."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from smsops.ledger.postgres import PostgresLedger
from smsops.sandbox.server import Sandbox
from tests.daemon.apiserver import API, BEARER, ENV, api_serving
from tests.otp.conftest import SECRET, UK, last_code, sandbox_messages

OTP_ENV = {**ENV, "SES_OTP": "ses-otp-key", "AOC_KEY": "aoc-key", "OTP_SECRET": SECRET}


def config(sandbox: Sandbox) -> str:
    return (
        API
        + f"""
otp:
  secret: ${{env:OTP_SECRET}}
providers:
  ses:
    type: sendwithses
    base_url: {sandbox.base_url("sendwithses")}
    template_keys: {{otp: "${{env:SES_OTP}}"}}
  aoc:
    type: aoc
    base_url: {sandbox.base_url("aoc")}
    api_key: ${{env:AOC_KEY}}
    sender: ACME
templates:
  login:
    category: otp
    body: "Your ACME code is {{{{ code }}}}."
    otp: {{max_attempts: 2}}
  notice: {{category: transactional, body: "Hello"}}
"""
    )


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_sendwithses_send_otp_then_verify_otp(tmp_path: Path, sandbox: Sandbox) -> None:
    with api_serving(tmp_path, config(sandbox), OTP_ENV) as api, api.client(**BEARER) as c:
        sent = c.post("/v1/otp/send", json={"to": UK, "template": "login", "provider": "ses"})
        assert (sent.status_code, sent.json()) == (200, {"status": "sent", "provider": "ses"})
        (message,) = sandbox_messages(sandbox)
        assert message["provider"] == "sendwithses"
        assert message["request"] == {"mobile": UK}
        code = last_code(sandbox)
        bad = c.post("/v1/otp/verify", json={"to": UK, "code": wrong(code)})
        assert bad.json() == {"status": "wrong_code", "provider": "ses", "attempts_left": 1}
        good = c.post("/v1/otp/verify", json={"to": UK, "code": code})
        assert (good.status_code, good.json()) == (200, {"status": "approved", "provider": "ses"})
        again = c.post("/v1/otp/verify", json={"to": UK, "code": code})
        assert again.json() == {"status": "not_found"}
        assert api.count("otp_send", "sent") == 1
        assert api.count("otp_verify", "approved") == 1
        assert api.count("otp_verify", "wrong_code") == 1
        assert api.count("otp_verify", "not_found") == 1
        assert "/v1/otp/verify" in c.get("/openapi.json").json()["paths"]


def test_aoc_type_otp_lock_and_rate_limit(tmp_path: Path, sandbox: Sandbox) -> None:
    with api_serving(tmp_path, config(sandbox), OTP_ENV) as api, api.client(**BEARER) as c:
        sent = c.post("/v1/otp/send", json={"to": UK, "template": "login", "provider": "aoc"})
        assert sent.json()["status"] == "sent"
        (message,) = sandbox_messages(sandbox)
        assert message["request"]["type"] == "OTP"
        assert re.fullmatch(r"Your ACME code is \d{6}\.", message["text"])
        code = last_code(sandbox)
        lefts = [
            c.post("/v1/otp/verify", json={"to": UK, "code": wrong(code)}).json()["attempts_left"]
            for _ in range(2)
        ]
        assert lefts == [1, 0]
        locked = c.post("/v1/otp/verify", json={"to": UK, "code": code})
        assert locked.json() == {"status": "too_many_attempts"}
        again = c.post("/v1/otp/send", json={"to": UK, "template": "login", "provider": "aoc"})
        assert again.status_code == 429
        assert again.json()["status"] == "rate_limited"
        assert 0 < again.json()["retry_after"] <= 30
        assert len(sandbox_messages(sandbox)) == 1
        assert api.count("otp_send", "rate_limited") == 1


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("send", {"to": UK, "template": "nope", "provider": "aoc"}, 404, "no template named"),
        ("send", {"to": UK, "template": "notice", "provider": "aoc"}, 422, "not of category otp"),
        ("send", {"to": UK, "template": "login"}, 422, "several providers"),
        ("send", {"to": UK, "template": "login", "provider": "zz"}, 404, "no provider named"),
        ("send", {"to": "0740012345", "template": "login", "provider": "aoc"}, 422, "E.164"),
        ("send", {"to": 447400123456, "template": "login"}, 422, "to:"),
        ("send", {"to": UK, "template": "x" * 65}, 422, "template:"),
        ("send", {"to": UK, "template": "login", "extra": 1}, 422, "extra"),
        ("verify", {"to": UK, "code": "12ab56"}, 422, "digits"),
        ("verify", {"to": UK, "code": "123"}, 422, "digits"),
        ("verify", {"to": UK, "code": "1" * 17}, 422, "code:"),
        ("verify", {"to": UK, "code": 123456}, 422, "code:"),
        ("verify", {"to": UK}, 422, "code:"),
    ],
)
def test_bad_requests_send_and_check_nothing(
    tmp_path: Path, sandbox: Sandbox, path: str, body: dict[str, Any], status: int, says: str
) -> None:
    with api_serving(tmp_path, config(sandbox), OTP_ENV) as api, api.client(**BEARER) as c:
        answer = c.post(f"/v1/otp/{path}", json=body)
        assert answer.status_code == status
        assert says in answer.json()["error"]
        assert UK not in answer.text
        assert sandbox_messages(sandbox) == []
        assert api.ledger.otp_events() == []  # type: ignore[attr-defined]


def test_hostile_bodies(tmp_path: Path, sandbox: Sandbox) -> None:
    with api_serving(tmp_path, config(sandbox), OTP_ENV) as api, api.client(**BEARER) as c:
        json_type = {"content-type": "application/json"}
        huge = c.post(
            "/v1/otp/send", content=b'{"to": "' + b"1" * 100_000 + b'"}', headers=json_type
        )
        assert huge.status_code == 413
        assert c.post("/v1/otp/verify", content=b"{nope", headers=json_type).status_code == 400
        deep = b'{"to": ' + b"[" * 5000 + b"]" * 5000 + b"}"
        assert c.post("/v1/otp/verify", content=deep, headers=json_type).status_code == 400
        nobody = httpx.post(api.base + "/v1/otp/send", json={"to": UK, "template": "login"})
        assert nobody.status_code == 401
        assert sandbox_messages(sandbox) == []


def test_no_secret_is_a_503_that_names_the_variable(tmp_path: Path, sandbox: Sandbox) -> None:
    env = {k: v for k, v in OTP_ENV.items() if k != "OTP_SECRET"}
    with api_serving(tmp_path, config(sandbox), env) as api, api.client(**BEARER) as c:
        answer = c.post("/v1/otp/send", json={"to": UK, "template": "login", "provider": "aoc"})
        assert answer.status_code == 503
        assert "OTP_SECRET" in answer.json()["error"]
        assert sandbox_messages(sandbox) == []


def test_two_replicas_on_one_postgresql_ledger(
    tmp_path: Path, sandbox: Sandbox, postgres_db: str
) -> None:
    """A code sent through one replica verifies through the other; the send limit is shared."""
    text = config(sandbox).replace("otp: {max_attempts: 2}", "otp: {min_gap: 0s, max_sends: 2}")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        api_serving(tmp_path / "a", text, OTP_ENV, ledger=PostgresLedger(postgres_db)) as one,
        api_serving(tmp_path / "b", text, OTP_ENV, ledger=PostgresLedger(postgres_db)) as two,
        one.client(**BEARER) as first,
        two.client(**BEARER) as second,
    ):
        for sender, checker, provider in ((first, second, "aoc"), (second, first, "ses")):
            request = {"to": UK, "template": "login", "provider": provider}
            assert sender.post("/v1/otp/send", json=request).json()["status"] == "sent"
            code = last_code(sandbox)
            verified = checker.post("/v1/otp/verify", json={"to": UK, "code": code})
            assert verified.json() == {"status": "approved", "provider": provider}
            reused = sender.post("/v1/otp/verify", json={"to": UK, "code": code})
            assert reused.json() == {"status": "not_found"}
        third = first.post("/v1/otp/send", json={"to": UK, "template": "login", "provider": "aoc"})
        assert third.json()["status"] == "rate_limited"  # two codes, one through each replica
        assert len(sandbox_messages(sandbox)) == 2


def test_replicas_asked_at_once_cannot_both_pass_the_limit(
    tmp_path: Path, sandbox: Sandbox, postgres_db: str
) -> None:
    text = config(sandbox).replace("otp: {max_attempts: 2}", "otp: {max_sends: 1}")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    request = {"to": UK, "template": "login", "provider": "aoc"}
    with (
        api_serving(tmp_path / "a", text, OTP_ENV, ledger=PostgresLedger(postgres_db)) as one,
        api_serving(tmp_path / "b", text, OTP_ENV, ledger=PostgresLedger(postgres_db)) as two,
    ):
        barrier = threading.Barrier(8)
        statuses: list[str] = []

        def ask(base: str) -> None:
            with httpx.Client(base_url=base, headers=BEARER, timeout=30) as client:
                barrier.wait()
                statuses.append(client.post("/v1/otp/send", json=request).json()["status"])

        threads = [threading.Thread(target=ask, args=(s.base,)) for s in (one, two) * 4]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(statuses) == ["rate_limited"] * 7 + ["sent"]
    assert len(sandbox_messages(sandbox)) == 1
