"""Twilio Programmable Messaging: the form request, its redaction, its answers, end to end."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from pydantic import ValidationError

from smsops.core import secrets
from smsops.providers.base import Accepted, Message, Rejected, Retryable, Uncertain
from smsops.providers.redaction import redacted
from smsops.providers.twilio import Twilio
from smsops.sandbox.server import Sandbox
from tests.attacks.harness import BASE_NUMBERS, SECRETS, run_cli, write_config
from tests.providers.conftest import CONFIGS, make_adapter

UK = Message("+447400123456", "Hi Sam, order A-1 has shipped.", region="GB")
SID, TOKEN = "AC-twilio-sid-SECRET", "twilio-token-SECRET"
BASIC = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()


def test_request_is_a_form_post_with_basic_auth_to_the_account_messages() -> None:
    request = make_adapter("tw").build([UK])
    assert request.method == "POST"
    assert str(request.url) == f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.headers["authorization"] == BASIC
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = dict(parse_qsl(request.content.decode()))
    assert form == {"To": UK.recipient, "Body": UK.text, "From": "+12025550100"}


def test_a_messaging_service_replaces_from_and_a_status_callback_is_sent() -> None:
    changes = {
        "from": None,
        "messaging_service_sid": "MG123",
        "status_callback": "https://x.test/s",
    }
    request = make_adapter("tw", **changes).build([UK])
    form = dict(parse_qsl(request.content.decode()))
    assert form == {
        "To": UK.recipient,
        "Body": UK.text,
        "MessagingServiceSid": "MG123",
        "StatusCallback": "https://x.test/s",
    }


def test_redacted_hides_the_auth_header_the_sid_in_the_url_and_masks_the_number() -> None:
    adapter = make_adapter("tw")
    shown = redacted(adapter.build([UK]), adapter, [UK.recipient])
    assert shown == {
        "method": "POST",
        "url": "https://api.twilio.com/2010-04-01/Accounts/***/Messages.json",
        "headers": {
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "***",
        }
        | {k: v for k, v in shown["headers"].items() if k not in ("Content-Type", "Authorization")},
        "form": {"To": "+44 74** ***456", "Body": UK.text, "From": "+12025550100"},
    }


def test_the_basic_auth_header_echoed_is_scrubbed_whole() -> None:
    make_adapter("tw").build([UK])  # resolving the secrets registers them, and the pair
    echo = f'{{"error": "authorization: {BASIC}"}}'
    scrubbed = secrets.scrub(echo)
    encoded = BASIC.removeprefix("Basic ")
    assert encoded not in scrubbed
    # at most the last character and padding (bits shared with no secret byte) remain
    assert len(scrubbed.split("***")[-1].rstrip('"}')) <= 3, scrubbed
    assert secrets.holds_secret(echo)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"from": None}, "exactly one of from and messaging_service_sid"),
        ({"messaging_service_sid": "MG1"}, "exactly one of from and messaging_service_sid"),
        ({"auth_token": "literal"}, "secrets never live in YAML"),
        ({"account_sid": "AC123"}, "secrets never live in YAML"),
        ({"status_callback": "ftp://x"}, "status_callback must be an http(s) URL"),
    ],
)
def test_invalid_configs_are_refused(changes: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        Twilio.model_validate(CONFIGS["tw"] | changes)


def answer(status: int, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (answer(201, {"sid": "SM1", "status": "queued"}), Accepted(message_id="SM1")),
        (answer(201, {"status": "queued"}), Uncertain("Twilio answered HTTP 201 without a sid")),
        (
            answer(400, {"code": 21211, "message": "The 'To' number is not valid.", "status": 400}),
            Rejected("Twilio 21211: The 'To' number is not valid.", code="21211"),
        ),
        (
            answer(429, {"code": 20429, "message": "Too Many Requests"}, {"Retry-After": "3"}),
            Retryable("HTTP 429 from the provider", retry_after=3.0),
        ),
        (
            answer(400, {"code": 20429, "message": "Too Many Requests"}),
            Retryable("Twilio 20429: Too Many Requests"),
        ),
        (answer(503, {"code": 20500}), Retryable("HTTP 503 from the provider")),
        (
            answer(500, {"code": 20500, "message": "Internal"}),
            Uncertain("HTTP 500, the request may have been taken: Twilio 20500: Internal"),
        ),
    ],
)
def test_answers_parse_into_results(response: httpx.Response, expected: object) -> None:
    assert make_adapter("tw").parse(response, [UK]) == [expected]


def test_the_emulator_refuses_another_accounts_credentials(sandbox: Sandbox) -> None:
    adapter = make_adapter("tw", base_url=sandbox.base_url("twilio"))
    request = adapter.build([UK])
    request.headers["authorization"] = "Basic " + base64.b64encode(b"ACother:tok").decode()
    with httpx.Client(timeout=5) as client:
        response = client.send(request)
    assert response.status_code == 401
    assert response.json()["code"] == 20003
    assert adapter.parse(response, [UK]) == [Rejected("Twilio 20003: Authenticate", code="20003")]


def test_a_messaging_service_send_is_accepted_by_the_emulator(sandbox: Sandbox) -> None:
    adapter = make_adapter(
        "tw", base_url=sandbox.base_url("twilio"), **{"from": None, "messaging_service_sid": "MG9"}
    )
    with httpx.Client(timeout=5) as client:
        response = client.send(adapter.build([UK]))
    assert response.status_code == 201
    assert response.json()["status"] == "accepted"
    (result,) = adapter.parse(response, [UK])
    assert isinstance(result, Accepted)
    (seen,) = sandbox.state.snapshot()
    assert seen["request"] == {"To": UK.recipient, "Body": UK.text, "MessagingServiceSid": "MG9"}


CONFIG = """\
providers:
  tw: {type: twilio, account_sid: "${env:SKY_KEY}", auth_token: "${env:AOC_KEY}", from: "+12025550100"}
templates:
  hello: {category: transactional, body: "Hi {{ name }}"}
audiences:
  people: {contacts: [{phone: "+447400123456", name: Sam}, {phone: "+447400123457", name: Al}]}
schedules:
  greet: {template: hello, audience: people, provider: tw}
"""


def test_twilio_end_to_end_validate_plan_dry_run_and_sandbox(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"c.yaml": CONFIG})
    ledger = tmp_path / "ledger.sqlite"
    pair = base64.b64encode(f"{SECRETS['SKY_KEY']}:{SECRETS['AOC_KEY']}".encode()).decode()

    validate = run_cli(["validate", str(config)], cwd=tmp_path)
    validate.assert_safe(code=0, numbers=BASE_NUMBERS)
    plan = run_cli(["plan", str(config), "--ledger", str(ledger)], cwd=tmp_path)
    plan.assert_safe(code=0, numbers=BASE_NUMBERS)
    assert "2 to send" in plan.output

    dry = run_cli(["apply", str(config), "--dry-run", "--ledger", str(ledger)], cwd=tmp_path)
    dry.assert_safe(code=0, numbers=BASE_NUMBERS)
    shown = [json.loads(line) for line in dry.stdout.splitlines() if line.startswith("{")]
    assert [r["form"]["To"] for r in shown] == ["+44 74** ***456", "+44 74** ***457"]
    assert all(r["headers"]["Authorization"] == "***" for r in shown)
    assert all(r["url"].endswith("/Accounts/***/Messages.json") for r in shown)
    assert pair not in dry.output

    sent = run_cli(["apply", str(config), "--sandbox", "--yes"], cwd=tmp_path)
    sent.assert_safe(code=0, numbers=BASE_NUMBERS)
    assert "2 sent" in sent.output, sent.output


def test_the_emulator_takes_a_status_callback_and_refuses_one_twilio_could_not_call() -> None:
    import asyncio
    from urllib.parse import urlencode

    from smsops.providers.emulation import EmulatedRequest, Sent
    from smsops.providers.twilio import emulate

    class Kept:
        def __init__(self) -> None:
            self.otp_codes: dict[str, str] = {}
            self.forms: list[dict[str, object]] = []
            self.reported: list[Sent] = []

        def record(
            self, provider: str, recipient: str, text: str, mid: str | None, body: dict[str, object]
        ) -> None:
            self.forms.append(body)

        async def report(self, sent: Sent) -> None:
            self.reported.append(sent)

    def send(callback: str) -> tuple[int, Kept]:
        form = {
            "To": UK.recipient,
            "From": "+12025550100",
            "Body": "hi",
            "StatusCallback": callback,
        }
        request = EmulatedRequest(
            {"authorization": BASIC}, urlencode(form).encode(), {"account_sid": SID}
        )
        kept = Kept()
        return asyncio.run(emulate(request, kept)).status, kept

    status, kept = send("https://sms.example.test/hooks/tw/receipts")
    assert status == 201
    assert kept.forms[0]["StatusCallback"] == "https://sms.example.test/hooks/tw/receipts"
    # the sandbox is told where its receipts go and what signs them (the auth token)
    (sent,) = kept.reported
    assert sent.url == "https://sms.example.test/hooks/tw/receipts"
    assert (sent.account, sent.recipient, sent.secret) == (SID, UK.recipient, TOKEN)
    assert send("not a url")[0] == 400
