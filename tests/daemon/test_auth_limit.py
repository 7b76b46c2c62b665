"""Wrong tokens are limited per client address (daemon/auth_limit.py): a guesser gets 429
with Retry-After at every door and its credentials are not even compared, while the real
user, calling from another address, is never locked out. Over real loopback sockets: the
attacker's client binds 127.0.0.2, the user's 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from smsops.daemon import auth_limit
from smsops.daemon.auth_limit import BURST, REFILL, FailedAuth, client_of
from tests.daemon.apiserver import API, ENV, TOKEN, ApiServed, api_serving
from tests.daemon.hookserver import TOKEN as HOOK_TOKEN
from tests.daemon.hookserver import Served, serving

STATUS_TOKEN = "status-token-0123456789-abcdefghijkl"
STATUS = "status:\n  token: ${env:STATUS_T}\n"
FORM = {"content-type": "application/x-www-form-urlencoded"}
ATTACKER, USER = "127.0.0.2", "127.0.0.1"


def _from(served: ApiServed | Served, address: str, **headers: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=served.base, transport=transport, timeout=30, headers=headers)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ApiServed]:
    env = {**ENV, "STATUS_T": STATUS_TOKEN}
    with api_serving(tmp_path, API + STATUS, env) as served:
        yield served


def _refusals(served: ApiServed | Served, surface: str, reason: str) -> float:
    labels = {"surface": surface, "reason": reason}
    found = served.service.metrics.registry.get_sample_value("smsops_auth_refusals_total", labels)
    return found or 0.0


def test_a_guesser_at_the_api_waits_and_the_real_user_does_not(served: ApiServed) -> None:
    with _from(served, ATTACKER, authorization="Bearer wrong") as attacker:
        for _ in range(BURST):
            assert attacker.post("/v1/messages", json={}).status_code == 401
        limited = attacker.post("/v1/messages", json={})
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= REFILL
        assert "retry" in limited.json()["error"]
        # not compared: even the right token from that address waits
        right = attacker.post("/v1/messages", json={}, headers={"authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 429
        # the same address waits at the status page and its login too: one table
        assert attacker.get("/status.json").status_code == 429
        login = attacker.post("/login", content=f"token={STATUS_TOKEN}", headers=FORM)
        assert login.status_code == 429
        assert "set-cookie" not in login.headers
    with _from(served, USER, authorization=f"Bearer {TOKEN}") as user:
        assert user.post("/v1/messages", json={}).status_code == 422  # in, and judged
    with _from(served, USER, authorization=f"Bearer {STATUS_TOKEN}") as user:
        assert user.get("/status.json").status_code == 200
    assert _refusals(served, "api", "wrong_token") == BURST
    assert _refusals(served, "api", "limited") == 2
    assert _refusals(served, "status", "limited") == 1
    assert _refusals(served, "login", "limited") == 1
    assert served.count("send_message", "limited") == 2


def test_a_forged_x_forwarded_for_does_not_move_a_guesser(served: ApiServed) -> None:
    """Without `server: {trusted_proxies}`, X-Forwarded-For is the client's own text."""
    with _from(served, ATTACKER, authorization=f"Bearer {STATUS_TOKEN}x") as attacker:
        for i in range(BURST):
            forged = {"x-forwarded-for": f"198.51.100.{i}"}
            assert attacker.get("/status.json", headers=forged).status_code == 401
        forged = {"x-forwarded-for": "198.51.100.250"}
        assert attacker.get("/", headers=forged).status_code == 429
    with _from(served, USER, authorization=f"Bearer {STATUS_TOKEN}") as user:
        assert user.get("/status.json", headers={"x-forwarded-for": ATTACKER}).status_code == 200


def test_no_credentials_cost_nothing_and_a_right_token_forgets_failures(
    served: ApiServed,
) -> None:
    with _from(served, ATTACKER) as browser:
        for _ in range(BURST * 2):
            assert browser.get("/").status_code == 401  # the login form, not a guess
        for _ in range(BURST - 1):
            answer = browser.post("/login", content="token=wrong", headers=FORM)
            assert answer.status_code == 401
        login = browser.post("/login", content=f"token={STATUS_TOKEN}", headers=FORM)
        assert login.status_code == 303
        browser.cookies.clear()
        for _ in range(BURST):  # a whole allowance again
            assert browser.post("/login", content="token=wrong", headers=FORM).status_code == 401


def test_hooks_are_limited_per_address_too(tmp_path: Path) -> None:
    body = "<POSTBACK><ORIGIN>SMS_MT</ORIGIN><CODE>N202</CODE><TRACKINGID>t</TRACKINGID></POSTBACK>"
    with serving(tmp_path) as served:
        with _from(served, ATTACKER, **{"content-type": "text/xml"}) as attacker:
            for _ in range(BURST):
                answer = attacker.post("/hooks/sky/receipts?token=wrong", content=body)
                assert answer.status_code == 401
            answer = attacker.post(f"/hooks/sky/receipts?token={HOOK_TOKEN}", content=body)
            assert answer.status_code == 429
            assert answer.headers["retry-after"]
        with _from(served, USER, **{"content-type": "text/xml"}) as provider:
            answer = provider.post(f"/hooks/sky/receipts?token={HOOK_TOKEN}", content=body)
            assert answer.status_code == 200
        labels = {"provider": "sky", "kind": "receipts", "outcome": "limited"}
        assert served.metric("smsops_hooks_total", labels) == 1
        assert _refusals(served, "hooks", "wrong_token") == BURST


def test_the_allowance_refills_with_the_clock() -> None:
    now = [0.0]
    table = FailedAuth(lambda: now[0])
    for _ in range(BURST):
        assert table.wait("a") == 0
        table.failed("a")
    assert table.wait("a") == REFILL
    now[0] += REFILL
    assert table.wait("a") == 0
    table.failed("a")
    assert table.wait("a") > 0
    assert table.wait("b") == 0
    now[0] += BURST * REFILL
    assert table.wait("a") == 0
    assert len(table) == 0  # refilled: forgotten


def test_the_table_is_bounded_and_forgets_the_oldest_first() -> None:
    now = [0.0]
    table = FailedAuth(lambda: now[0], size=100)
    for _ in range(BURST):
        table.failed("victim-of-nothing")
    for i in range(1000):
        table.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(table) == 100
    assert table.wait("victim-of-nothing") == 0  # evicted: the oldest went first
    assert table.wait("10.0.3.231") == 0  # one failure each: under the limit


def _request(peer: str, forwarded: str | None = None) -> Any:
    headers = {"x-forwarded-for": forwarded} if forwarded is not None else {}
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    from starlette.requests import Request

    return Request({"type": "http", "client": (peer, 1234), "headers": raw})


def test_the_client_is_read_from_x_forwarded_for_only_behind_a_trusted_proxy() -> None:
    trusted = auth_limit.trusted_networks(
        SimpleNamespace(  # type: ignore[arg-type]
            runner=SimpleNamespace(
                config=SimpleNamespace(
                    server=SimpleNamespace(trusted_proxies=["10.0.0.0/8", "127.0.0.1"])
                )
            )
        )
    )
    assert client_of(_request("192.0.2.9", "198.51.100.1"), trusted) == "192.0.2.9"
    assert client_of(_request("10.1.2.3", "198.51.100.1"), trusted) == "198.51.100.1"
    # the left part is the client's own writing: the right-most untrusted hop counts
    forged = "203.0.113.66, 198.51.100.1, 10.9.9.9"
    assert client_of(_request("127.0.0.1", forged), trusted) == "198.51.100.1"
    assert client_of(_request("10.1.2.3", "garbage"), trusted) == "10.1.2.3"
    assert client_of(_request("10.1.2.3"), trusted) == "10.1.2.3"
    assert client_of(_request("10.1.2.3", "2001:db8::1"), trusted) == "2001:db8::/64"
    assert client_of(_request("2001:db8:0:0:ffff::7"), []) == "2001:db8::/64"
    assert client_of(_request("192.0.2.9", "198.51.100.1"), []) == "192.0.2.9"


def test_a_trusted_proxy_that_is_no_address_is_an_error_at_its_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from smsops.cli import main
    from tests.daemon.apiserver import PROVIDERS

    (tmp_path / "p.yaml").write_text(PROVIDERS)
    (tmp_path / "s.yaml").write_text("server:\n  trusted_proxies: [10.0.0.0/8, proxy.local]\n")
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "s.yaml:2:" in err
    assert "'proxy.local' is not an IP address or network" in err
