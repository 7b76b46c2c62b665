"""POST /v1/messages and GET /v1/messages/{key} over loopback against the sandbox (issue 22).

Acceptance: a key sent twice sends once; 200 parallel requests with 100
distinct keys send exactly 100; a wrong token sends nothing. And every way a
request cannot be sent is a 4xx with a reason, nothing claimed, nothing sent.
"""

from __future__ import annotations

import typing
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from smsops.core.hooks import Delivery, Receipt
from smsops.core.reserved import API_MESSAGES
from smsops.engine.transactional import MessageAnswer, key_of
from smsops.ledger.base import Status
from smsops.sandbox.server import Sandbox
from tests.daemon.apiserver import BEARER, ENV, TOKEN, api_serving, on_sandbox

NUMBER = "+447400123456"


TEMPLATES = """\
  shipped: {category: transactional, body: "Order {{ order }} shipped"}
  promo: {category: marketing, body: "Sale! Reply STOP to opt out"}
  night:
    category: transactional
    body: "Psst"
    quiet_hours: {start: "00:00", end: "23:59"}
"""


def config(sandbox: Sandbox) -> str:
    return on_sandbox(sandbox.base_url("skycore"), TEMPLATES, provider="    max_in_flight: 20\n")


def with_opentact(sandbox: Sandbox) -> str:
    """`config` with a second provider, `ot` (OpenTact, on the sandbox)."""
    other = f"""\
  ot:
    type: opentact
    base_url: {sandbox.base_url("opentact")}
    token: ${{env:SKY_KEY}}
    from: "+12017771234"
"""
    return config(sandbox).replace("templates:\n", other + "templates:\n")


def message(key: str = "order-1", **changes: Any) -> dict[str, Any]:
    return {
        "template": "shipped",
        "to": NUMBER,
        "vars": {"order": 42},
        "idempotency_key": key,
    } | changes


def sent(sandbox: Sandbox) -> list[dict[str, Any]]:
    return sandbox.state.snapshot()


def test_a_key_sent_twice_sends_once_and_answers_the_first_result(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    with api_serving(tmp_path, config(sandbox), ENV) as api, api.client(**BEARER) as c:
        first = c.post("/v1/messages", json=message())
        again = c.post("/v1/messages", json=message(to="+44 7400 123456"))  # the same number
        assert first.status_code == again.status_code == 200
        assert first.json() == again.json()
        body = first.json()
        assert body["status"] == "sent"
        assert body["provider"] == "sky"
        assert body["segments"] == 1
        assert body["key"] == "order-1"
        assert body["message_id"]
        assert NUMBER not in first.text  # masked
        assert [m["text"] for m in sent(sandbox)] == ["Order 42 shipped"]
        assert api.count("send_message", "sent") == 1
        assert api.count("send_message", "replayed") == 1
        looked = c.get("/v1/messages/order-1").json()
        assert looked == body
        row = api.ledger.get([key_of("order-1")])[key_of("order-1")]
        assert (row.schedule, row.occurrence, row.recipient) == (API_MESSAGES, "order-1", NUMBER)


def test_the_same_key_with_another_request_is_409_and_sends_nothing(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    with api_serving(tmp_path, config(sandbox), ENV) as api, api.client(**BEARER) as c:
        assert c.post("/v1/messages", json=message()).status_code == 200
        for changed in (
            message(to="+447400123457"),
            message(vars={"order": 43}),
            message(template="promo", vars={}),
            message(provider="sky"),
        ):
            answer = c.post("/v1/messages", json=changed)
            assert answer.status_code == 409, changed
            assert "idempotency_key was used with another request" in answer.json()["error"]
        assert len(sent(sandbox)) == 1
        assert api.count("send_message", "conflict") == 4


def test_200_parallel_requests_with_100_keys_send_exactly_100(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    keys = [f"k-{i}" for i in range(100)] * 2
    with api_serving(tmp_path, config(sandbox), ENV) as api:

        def post(key: str) -> httpx.Response:
            with api.client(**BEARER) as c:
                return c.post("/v1/messages", json=message(key))

        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(post, keys))
        assert {a.status_code for a in answers} == {200}
        assert {a.json()["status"] for a in answers} == {"sent"}
        assert len(sent(sandbox)) == 100
        assert api.count("send_message", "sent") + api.count("send_message", "replayed") == 200
        by_key: dict[str, set[str]] = {}
        for key, answer in zip(keys, answers, strict=True):
            by_key.setdefault(key, set()).add(answer.json()["message_id"])
        assert all(len(ids) == 1 for ids in by_key.values())  # both got the first's result


@pytest.mark.parametrize(
    "headers", [{}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}]
)
def test_a_wrong_token_sends_nothing_and_records_nothing(
    tmp_path: Path, sandbox: Sandbox, headers: dict[str, str]
) -> None:
    with api_serving(tmp_path, config(sandbox), ENV) as api, api.client(**headers) as c:
        answer = c.post("/v1/messages", json=message())
        assert answer.status_code == 401
        assert c.get("/v1/messages/order-1").status_code == 401
        assert sent(sandbox) == []
        assert api.ledger.get([key_of("order-1")]) == {}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"template": "nope"}, "template: the config has no template of that name"),
        ({"to": "12"}, "to: "),
        ({"to": "+4474001234567890"}, "to: "),
        ({"vars": {}}, "template 'shipped': no value for order"),
        ({"vars": {"order": ""}}, "template 'shipped': no value for order (order empty)"),
        ({"provider": "nope"}, "provider: the config has no provider of that name"),
        ({"template": "night", "vars": {}}, "template 'night': quiet hours 00:00-23:59 in "),
        ({"idempotency_key": "bad key"}, "idempotency_key: String should match pattern"),
        ({"vars": {"order": [1]}}, "vars.order"),
        ({"vars": {"order": "x" * 501}}, "vars.order"),
    ],
)
def test_a_request_that_cannot_be_sent_is_422_with_a_reason_and_nothing_happens(
    tmp_path: Path, sandbox: Sandbox, changes: dict[str, Any], reason: str
) -> None:
    with api_serving(tmp_path, config(sandbox), ENV) as api, api.client(**BEARER) as c:
        answer = c.post("/v1/messages", json=message(**changes))
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"].startswith(reason)
        assert "7400123456" not in answer.text
        assert "4474001234567890" not in answer.text
        assert sent(sandbox) == []
        assert api.ledger.get([key_of("order-1")]) == {}


def test_marketing_through_the_api_skips_a_number_on_the_suppression_list(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    from smsops.ledger.suppressions import OptAction, OptEvent

    with api_serving(tmp_path, config(sandbox), ENV) as api, api.client(**BEARER) as c:
        api.ledger.opt([OptEvent(NUMBER, OptAction.OUT, datetime.now(UTC), "cli", "")])
        answer = c.post("/v1/messages", json=message(template="promo", vars={}))
        assert (answer.status_code, answer.json()["error"]) == (
            422,
            "to: on the ledger's suppression list (STOP)",
        )
        ok = c.post("/v1/messages", json=message())  # transactional: not held by the list
        assert ok.json()["status"] == "sent"


def test_several_providers_without_one_named_or_listed_is_422(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    text = with_opentact(sandbox)
    with api_serving(tmp_path, text, ENV) as api, api.client(**BEARER) as c:
        answer = c.post("/v1/messages", json=message())
        assert answer.status_code == 422
        assert answer.json()["error"].startswith("provider: the config has several providers")
        assert c.post("/v1/messages", json=message(provider="ot")).json()["provider"] == "ot"
        assert sent(sandbox)[0]["provider"] == "opentact"


def test_a_provider_that_refuses_fails_over_down_the_api_list(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    text = with_opentact(sandbox)
    text = text.replace(sandbox.base_url("skycore"), sandbox.url + "/no-such-path")
    api_map = "api:\n  token: ${env:SMSOPS_API_TOKEN}\n"
    text = text.replace(api_map, api_map + "  providers: [sky, ot]\n")
    with api_serving(tmp_path, text, ENV) as api, api.client(**BEARER) as c:
        answer = c.post("/v1/messages", json=message())
        assert answer.json()["status"] == "sent"
        assert answer.json()["provider"] == "ot"


def test_a_receipt_shows_in_get_as_delivered(tmp_path: Path, sandbox: Sandbox) -> None:
    with api_serving(tmp_path, config(sandbox), ENV) as api, api.client(**BEARER) as c:
        first = c.post("/v1/messages", json=message()).json()
        receipt = Receipt("sky", first["message_id"], Delivery.DELIVERED, "N202")
        api.ledger.receipts([receipt], datetime.now(UTC))
        looked = c.get("/v1/messages/order-1").json()
        assert (looked["status"], looked["receipt"]) == ("delivered", "N202")
        assert c.get("/v1/messages/never-sent").status_code == 404


def test_every_ledger_status_is_one_the_answer_can_say() -> None:
    field = MessageAnswer.model_fields["status"].annotation
    assert set(typing.get_args(field)) == {s.value for s in Status}


def test_a_key_holding_the_number_it_sends_to_is_422_and_nothing_happens(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """The key is shown in full wherever the row is (ledger list and export, the status
    view's resolve commands): a key made of the number (`user-447400123456`) would put
    the full number there. Other digits are any caller's ids and go."""
    with api_serving(tmp_path, config(sandbox), ENV) as api, api.client(**BEARER) as c:
        for key in (
            "user-447400123456-welcome",
            "7400123456",
            "otp:07400123456",
            "a.44.7400123456",
        ):
            answer = c.post("/v1/messages", json=message(key))
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"].startswith("idempotency_key: holds the number")
            assert "7400123456" not in answer.text
            assert api.ledger.get([key_of(key)]) == {}
        assert sent(sandbox) == []
        ok = c.post("/v1/messages", json=message("order-20261122-0001", to="+12025550191"))
        assert ok.json()["status"] == "sent", ok.text
