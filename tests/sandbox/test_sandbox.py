"""Each provider sends to the sandbox over a real loopback socket."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from syrupy.assertion import SnapshotAssertion

from smsops.providers.base import (
    Accepted,
    Message,
    Rejected,
    Retryable,
    Uncertain,
    transport_error,
)
from smsops.providers.sendwithses import SendWithSESAdapter
from smsops.sandbox.server import Sandbox
from tests.providers.conftest import CONFIGS, SECRETS, make_adapter

TYPES = {name: config["type"] for name, config in CONFIGS.items()}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def send(
    client: httpx.Client, sandbox: Sandbox, name: str, messages: list[Message], **changes: Any
) -> list[Any]:
    adapter = make_adapter(name, base_url=sandbox.base_url(TYPES[name]), **changes)
    try:
        response = client.send(adapter.build(messages))
    except httpx.TransportError as error:
        return [transport_error(error)] * len(messages)
    return adapter.parse(response, messages)


def recorded(client: httpx.Client, sandbox: Sandbox) -> list[dict[str, Any]]:
    """The sandbox's record, with its random ids and times made stable for snapshots."""
    messages = client.get(sandbox.url + "/_sandbox/messages").json()["messages"]
    for message in messages:
        message["received_at"] = "<time>"
        message["message_id"] = message["message_id"] and "<id>"
    return messages


UK = Message("+447400123456", "Hi Sam, order A-1 has shipped.", region="GB")
US = Message("+12025550199", "Hi Dana, order A-4 has shipped.", region="US")
IN = [
    Message(f"+91982001234{i}", "Dear customer, 20% off today.", "marketing", region="IN")
    for i in range(3)
]
UNICODE = Message("+351912345678", "Olá Inês, a sua consulta é amanhã ✅", ucs2=True, region="PT")
TEMPLATE = Message(
    "+919820012345",
    "Dear Asha, 30% off",
    "marketing",
    template_id="1507165650000000000",
    custom=("Asha", "30"),
)

CASES = {
    "sendwithses": ("ses", [UK, US]),
    "skycore": ("sky", [UK, UNICODE]),
    "opentact": ("ot", [US, UNICODE]),
    "aoc-bulk": ("aoc", [IN]),
    "aoc-unicode": ("aoc", [[UNICODE]]),
    "aoc-template": ("aoc", [[TEMPLATE]]),
}


@pytest.mark.parametrize("case", CASES)
def test_provider_sends_and_sandbox_records_what_the_seed_requires(
    case: str, sandbox: Sandbox, client: httpx.Client, snapshot: SnapshotAssertion
) -> None:
    name, batches = CASES[case]
    for batch in batches:
        messages = batch if isinstance(batch, list) else [batch]
        results = send(client, sandbox, name, messages)
        assert all(isinstance(r, Accepted) for r in results), results
    assert recorded(client, sandbox) == snapshot


@pytest.mark.parametrize("name", ["ses", "sky", "ot", "aoc"])
def test_missing_auth_header_is_rejected(name: str, sandbox: Sandbox, client: httpx.Client) -> None:
    adapter = make_adapter(name, base_url=sandbox.base_url(TYPES[name]))
    request = adapter.build([Message("+919820012345", "hi")])
    for header in list(request.headers):
        if header.lower() in adapter.secret_headers:
            del request.headers[header]
    (result,) = adapter.parse(client.send(request), [Message("+919820012345", "hi")])
    assert isinstance(result, Rejected)
    assert recorded(client, sandbox) == []


def test_us_rule_is_enforced_by_the_sandbox(sandbox: Sandbox, client: httpx.Client) -> None:
    # smsops skips these before sending; the sandbox refuses them as the real API does.
    (result,) = send(client, sandbox, "ses", [US], origination_number=None)
    assert result == Rejected(
        "Origination number required; sending to USA numbers needs one", code="400"
    )


def test_bad_number_format_is_rejected(sandbox: Sandbox, client: httpx.Client) -> None:
    response = client.post(
        sandbox.url + "/opentact/rest/sms",
        headers={"X-Auth-Token": "t"},
        json={"from": 12017771234, "to": "qwerty123456789", "message": "hi"},
    )
    assert response.status_code == 403
    assert response.json()["fields"]["params.to"]["message"] == "invalid integer number"


def test_otp_send_and_verify(sandbox: Sandbox, client: httpx.Client) -> None:
    adapter = make_adapter("ses", base_url=sandbox.base_url("sendwithses"))
    assert isinstance(adapter, SendWithSESAdapter)
    assert adapter.parse(client.send(adapter.send_otp(UK.recipient, "GB")), [UK]) == [
        Accepted(None)
    ]
    code = client.get(sandbox.url + "/_sandbox/messages").json()["messages"][0]["text"].split()[-1]
    assert adapter.parse(client.send(adapter.verify_otp(UK.recipient, code)), [UK]) == [
        Accepted(None)
    ]
    wrong = "000000" if code != "000000" else "111111"
    (result,) = adapter.parse(client.send(adapter.verify_otp(UK.recipient, wrong)), [UK])
    assert isinstance(result, Rejected)


def test_injected_429_carries_retry_after(sandbox: Sandbox, client: httpx.Client) -> None:
    client.put(
        sandbox.url + "/_sandbox/faults", json={"status_every": 2, "status": 429, "retry_after": 3}
    )
    first, second = (send(client, sandbox, "sky", [UK])[0] for _ in range(2))
    assert isinstance(first, Accepted)
    assert second == Retryable("HTTP 429 from the provider", retry_after=3.0)
    assert len(recorded(client, sandbox)) == 1


def test_injected_5xx(sandbox: Sandbox, client: httpx.Client) -> None:
    sandbox.state.faults.update({"status_every": 1, "status": 500})
    (result,) = send(client, sandbox, "aoc", [UK])
    assert isinstance(result, Uncertain)  # a 500 with an unknown body may have been accepted


def test_dropped_connection_after_accepting_is_uncertain(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    sandbox.state.faults.update({"drop_every": 1})
    (result,) = send(client, sandbox, "ot", [US])
    assert isinstance(result, Uncertain)
    # The sandbox did take it: exactly why smsops must not resend on its own.
    assert len(recorded(client, sandbox)) == 1


def test_a_dropped_connection_logs_no_traceback(sandbox: Sandbox, client: httpx.Client) -> None:
    """The drop is a fault asked for: uvicorn's 'Exception in ASGI application' and its
    traceback were written to the log of every `--sandbox` run, hiding real ones."""
    logger = logging.getLogger("uvicorn.error")  # the logger uvicorn reports app errors on
    lines: list[str] = []
    catch = logging.Handler(logging.DEBUG)
    catch.emit = lambda record: lines.append(logging.Formatter().format(record))  # type: ignore[method-assign]
    level = logger.level
    logger.addHandler(catch)
    logger.setLevel(logging.DEBUG)  # the shared sandbox runs at "critical"; the daemon does not
    try:
        sandbox.state.faults.update({"drop_every": 1})
        for _ in range(2):
            (result,) = send(client, sandbox, "ot", [US])
            assert isinstance(result, Uncertain)  # the fault did happen
    finally:
        logger.removeHandler(catch)
        logger.setLevel(level)
    assert not [line for line in lines if "Traceback" in line or "ASGI" in line], lines


@pytest.mark.parametrize(
    ("name", "secret"),
    [("ses", "SES_TX"), ("sky", "SKY_KEY"), ("ot", "OT_JWT"), ("aoc", "AOC_KEY")],
)
def test_echo_fault_writes_the_request_back_and_the_result_is_scrubbed(
    name: str, secret: str, sandbox: Sandbox, client: httpx.Client
) -> None:
    sandbox.state.faults.update({"echo_every": 2, "echo_status": 400})
    first, second = (send(client, sandbox, name, [UK])[0] for _ in range(2))
    assert isinstance(first, Accepted)
    assert isinstance(second, Rejected)  # a 4xx: certainly not taken
    # the echo carries the request (the number, the key's header) into the reason;
    # the adapter's result holds the header with its value scrubbed
    header = {"ses": "template-key", "sky": "x-api-key", "ot": "x-auth-token", "aoc": "apikey"}
    assert f"{header[name]}: ***" in second.reason
    assert UK.recipient.removeprefix("+") in second.reason
    assert SECRETS[secret] not in second.reason
    assert len(recorded(client, sandbox)) == 1


def test_echo_fault_with_a_5xx_is_uncertain(sandbox: Sandbox, client: httpx.Client) -> None:
    sandbox.state.faults.update({"echo_every": 1, "echo_status": 500})
    (result,) = send(client, sandbox, "aoc", [UK])
    assert isinstance(result, Uncertain)  # a failing server may have queued part of a bulk
    assert "apikey: ***" in result.reason
    assert SECRETS["AOC_KEY"] not in result.reason


def test_injected_latency(sandbox: Sandbox, client: httpx.Client) -> None:
    sandbox.state.faults.update({"latency_ms": 150})
    started = time.monotonic()
    send(client, sandbox, "ses", [UK])
    assert time.monotonic() - started >= 0.15


def test_rate_limit_answers_429_beyond_the_limit(sandbox: Sandbox, client: httpx.Client) -> None:
    sandbox.state.faults.update({"rate_limit": 3})
    results = [send(client, sandbox, "ses", [UK])[0] for _ in range(6)]
    assert sum(isinstance(r, Accepted) for r in results) == 3
    assert all(r == Retryable("HTTP 429 from the provider", retry_after=1.0) for r in results[3:])


def test_control_endpoints(sandbox: Sandbox, client: httpx.Client) -> None:
    send(client, sandbox, "ses", [UK])
    assert client.get(sandbox.url + "/_sandbox/messages").json()["count"] == 1
    # The count alone: what a benchmark polls, without the record sent each time.
    assert client.get(sandbox.url + "/_sandbox/messages/count").json() == {"count": 1}
    assert client.delete(sandbox.url + "/_sandbox/messages").json() == {"reset": True}
    assert client.get(sandbox.url + "/_sandbox/messages").json() == {
        "count": 0,
        "busiest_second": 0,
        "messages": [],
    }
    bad = client.put(sandbox.url + "/_sandbox/faults", json={"latncy_ms": 5})
    assert bad.status_code == 400
    assert "unknown fault 'latncy_ms'" in bad.json()["error"]
    assert client.get(sandbox.url + "/_sandbox/faults").json()["latency_ms"] == 0


def test_smsops_sandbox_command_serves_until_stopped() -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "smsops", "sandbox", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/_sandbox/messages", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.05)
        assert answer.json() == {"count": 0, "busiest_second": 0, "messages": []}
        posted = httpx.post(
            f"http://127.0.0.1:{port}/aoc/sms",
            headers={"apiKey": "k"},
            json={"sender": "A", "to": "919820012345", "text": "hi", "type": "TRANS"},
        )
        assert posted.json()["totalCount"] == 1
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=20)
    assert f"aoc          http://127.0.0.1:{port}/aoc" in out


def test_json_webhook_takes_what_apprise_posts(sandbox: Sandbox, client: httpx.Client) -> None:
    url = sandbox.url + "/json/notify"
    body = {"version": "1.0", "title": "", "message": "Hi", "type": "info", "to": "+447400123456"}
    assert client.post(url, json=body).status_code == 200
    assert client.post(url, json=body | {"to": "07400 123456"}).status_code == 400
    assert client.post(url, content=b"not json").status_code == 400
    (seen,) = sandbox.state.snapshot()
    assert (seen["provider"], seen["recipient"], seen["text"]) == ("json", "+447400123456", "Hi")


def test_busiest_second_counts_arrivals_in_any_one_second_window() -> None:
    from smsops.sandbox.state import busiest_second

    assert busiest_second([]) == 0
    assert busiest_second([0.0, 0.5, 0.999, 1.0, 1.5]) == 3  # [0.5, 1.5) holds 0.5, 0.999, 1.0
    assert busiest_second([3.0, 1.0, 2.0]) == 1  # unsorted; a window is half-open


def test_a_raw_answer_fault_answers_exactly_what_it_is_told(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    """Hostile answers no emulator gives: a status, headers and a body as bytes (issue 19)."""
    deep = "[" * 100_000 + "]" * 100_000
    client.put(
        sandbox.url + "/_sandbox/faults",
        json={
            "raw_every": 2,
            "raw_status": 429,
            "raw_headers": {
                "Retry-After": "inf",
                "Content-Type": "application/json; charset=rot13",
            },
            "raw_body": deep,
        },
    )
    adapter = make_adapter("sky", base_url=sandbox.base_url("skycore"))
    first, second = (client.send(adapter.build([UK])) for _ in range(2))
    assert first.status_code == 200
    assert second.status_code == 429
    assert second.headers["retry-after"] == "inf"
    assert second.headers["content-type"] == "application/json; charset=rot13"
    assert second.content == deep.encode()
    assert len(recorded(client, sandbox)) == 1  # the raw answer took nothing


@pytest.mark.parametrize("path", ["/opentact/rest/sms", "/_sandbox/faults", "/_sandbox/inbound"])
def test_a_client_that_hangs_up_mid_body_is_no_error(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A client gone before its body was read (starlette's ClientDisconnect) is not the
    sandbox's error: uvicorn logged "Exception in ASGI application" for each. The app now
    answers it itself (nobody is left to read it) and notes it at debug level only."""
    import asyncio

    from smsops.sandbox.server import build_app
    from smsops.sandbox.state import SandboxState

    app = build_app(SandboxState())
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    method = "PUT" if path == "/_sandbox/faults" else "POST"
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"content-length", b"100"), (b"x-auth-token", b"t")],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
    }  # fmt: skip
    with caplog.at_level(logging.DEBUG):
        asyncio.run(app(scope, receive, send))  # raised ClientDisconnect out of the app
    assert not [r for r in caplog.records if r.levelno > logging.DEBUG]
    assert "hung up" in caplog.text
