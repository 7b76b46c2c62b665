"""POST /hooks/{provider}/receipts|inbound over a real loopback socket (issue 21).

What reaches the sink for each provider's format, what each answer says,
and what is counted. Hostile bodies are in tests/attacks/test_hooks.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest

from smsops.core.hooks import Delivery, ReceiptResult
from smsops.providers.twilio_hooks import twilio_signature
from tests.daemon.hookserver import PUBLIC, TOKEN, TWILIO_TOKEN, RecordingSink, serving

XML = "application/xml"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
BEARER = {"authorization": f"Bearer {TOKEN}"}


def postback(**fields: str) -> str:
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
    return f"<?xml version='1.0'?>\n<POSTBACK>{inner}</POSTBACK>"


def mt(code: str, tracking: str = "ABC123", status: str = "Message Sent/Delivered") -> str:
    return postback(
        ORIGIN="SMS_MT",
        CODE=code,
        STATUS=status,
        FROM="00000",
        FROM_MASK="",
        TO="10000000001",
        TRACKINGID=tracking,
        SPID="0001",
        TIMESTAMP="2026-01-01T10:00:00-05:00",
        AGGREGATORID="XYZ",
    )


def signed(url: str, params: dict[str, str]) -> dict[str, str]:
    return {"x-twilio-signature": twilio_signature(url, params.items(), TWILIO_TOKEN)}


@pytest.mark.parametrize(
    ("code", "delivery"),
    [
        ("N201", Delivery.INTERIM),
        ("N202", Delivery.DELIVERED),
        ("E201", Delivery.UNDELIVERED),
        ("E202", Delivery.UNDELIVERED),
    ],
)
def test_skycore_mt_postbacks_reach_the_sink_matched_by_tracking_id(
    tmp_path: Path, code: str, delivery: Delivery
) -> None:
    with serving(tmp_path) as served:
        answer = served.post("/hooks/sky/receipts", mt(code), XML, headers=BEARER)
        assert answer.status_code == 200, answer.text
        (receipt,) = served.sink.receipts_seen
        assert (receipt.provider, receipt.message_id, receipt.delivery) == (
            "sky",
            "ABC123",
            delivery,
        )
        assert receipt.code == code
        assert receipt.at == datetime(2026, 1, 1, 15, tzinfo=UTC)
        assert (receipt.error is not None) == code.startswith("E")
        result = "interim" if delivery is Delivery.INTERIM else "applied"
        assert answer.json()[result] == 1
        assert answer.json()["receipts"] == 1
        assert (
            served.metric(
                "smsops_hooks_total", {"provider": "sky", "kind": "receipts", "outcome": "accepted"}
            )
            == 1
        )


def test_skycore_mo_postback_is_an_inbound_text_with_the_sender_in_e164(tmp_path: Path) -> None:
    body = postback(
        ORIGIN="SMS_MO",
        CODE="N211",
        FROM="12025550143",
        TO="00000",
        TEXT=" STOP ",
        RECEIVED="2026-01-01T10:00:00Z",
        TRANSACTIONID="T1",
    )
    with serving(tmp_path) as served:
        answer = served.post(f"/hooks/sky/inbound?token={TOKEN}", body, "text/xml")
        assert answer.json() == {"inbound": 1, "result": "opted_out"}
        (message,) = served.sink.inbound_seen
        assert (message.sender, message.to, message.text) == ("+12025550143", "00000", " STOP ")
        # Skycore posts MT and MO to the account's one postback URL: either path takes either
        assert served.post("/hooks/sky/receipts", body, XML, headers=BEARER).status_code == 200
        assert len(served.sink.inbound_seen) == 2


def test_a_long_messages_postbacks_count_once_in_the_metrics(tmp_path: Path) -> None:
    sink = RecordingSink()
    seen: set[str] = set()

    def once(receipt):  # type: ignore[no-untyped-def]
        first = receipt.message_id not in seen
        seen.add(receipt.message_id)
        return ReceiptResult.APPLIED if first else ReceiptResult.DUPLICATE

    sink.answer = once
    with serving(tmp_path, sink) as served:
        for _ in range(3):  # one tracking-id, three parts' postbacks
            assert served.post("/hooks/sky/receipts", mt("N202"), XML, headers=BEARER).is_success
        labels = {"provider": "sky", "status": "delivered"}
        assert served.metric("smsops_receipts_total", labels) == 1
        assert served.metric("smsops_receipts_total", labels | {"status": "duplicate"}) == 2


@pytest.mark.parametrize(
    ("status", "delivery"),
    [
        ("queued", Delivery.INTERIM),
        ("sent", Delivery.INTERIM),
        ("delivered", Delivery.DELIVERED),
        ("undelivered", Delivery.UNDELIVERED),
        ("failed", Delivery.UNDELIVERED),
    ],
)
def test_twilio_status_callbacks_signed_for_the_configured_url(
    tmp_path: Path, status: str, delivery: Delivery
) -> None:
    params = {"MessageSid": "SM1", "MessageStatus": status, "AccountSid": "AC123"}
    if delivery is Delivery.UNDELIVERED:
        params["ErrorCode"] = "30003"
    url = f"{PUBLIC}/hooks/tw/receipts"
    with serving(tmp_path) as served:
        answer = served.post(
            "/hooks/tw/receipts", urlencode(params), FORM, headers=signed(url, params)
        )
        assert answer.status_code == 200, answer.text
        (receipt,) = served.sink.receipts_seen
        assert (receipt.message_id, receipt.delivery, receipt.code) == ("SM1", delivery, status)
        assert receipt.error == params.get("ErrorCode")


def test_twilio_inbound_is_answered_with_empty_twiml(tmp_path: Path) -> None:
    params = {"MessageSid": "SM2", "From": "+447400123456", "To": "+12025550100", "Body": "stop"}
    url = f"{PUBLIC}/hooks/tw/inbound?source=console"
    with serving(tmp_path) as served:
        answer = served.post(
            "/hooks/tw/inbound", urlencode(params), FORM, headers=signed(url, params)
        )
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/xml")
        assert answer.text.endswith("<Response/>")
        assert served.sink.inbound_seen[0].sender == "+447400123456"


def test_generic_json_one_object_or_a_list(tmp_path: Path) -> None:
    one = {"message_id": "m1", "status": "delivered", "at": "2026-01-01T10:00:00+01:00"}
    many = [
        {"message_id": "m2", "status": "failed", "error": "30003"},
        {"message_id": 77, "status": "UNDELIVERED"},
    ]
    with serving(tmp_path) as served:
        assert served.post("/hooks/ot/receipts", json.dumps(one), JSON, headers=BEARER).is_success
        answer = served.post(f"/hooks/ot/receipts?token={TOKEN}", json.dumps(many), JSON)
        assert answer.json() == {
            "receipts": 2,
            "applied": 2,
            "duplicate": 0,
            "parked": 0,
            "interim": 0,
        }
        first, second, third = served.sink.receipts_seen
        assert first.at == datetime(2026, 1, 1, 9, tzinfo=UTC)
        assert (second.delivery, second.error) == (Delivery.UNDELIVERED, "30003")
        assert (third.message_id, third.delivery) == ("77", Delivery.UNDELIVERED)
        inbound = {"from": "+447400123456", "to": "ACME", "text": "START"}
        assert served.post(
            "/hooks/ot/inbound", json.dumps(inbound), JSON, headers=BEARER
        ).json() == {
            "inbound": 1,
            "result": "other",
        }


def test_a_providers_own_shape_through_its_receipts_setting(tmp_path: Path) -> None:
    bodies = [
        {"data": {"messageId": "a1", "state": "DELIVRD"}},
        {"data": {"messageId": "a2", "state": "rejectd", "reason": "blocked"}},
        {"data": {"messageId": "a3", "state": "ENROUTE"}},
    ]
    with serving(tmp_path) as served:
        answer = served.post("/hooks/aoc/receipts", json.dumps(bodies), JSON, headers=BEARER)
        assert answer.json()["applied"] == 2
        assert answer.json()["interim"] == 1
        deliveries = [(r.message_id, r.delivery, r.error) for r in served.sink.receipts_seen]
        assert deliveries == [
            ("a1", Delivery.DELIVERED, None),
            ("a2", Delivery.UNDELIVERED, "blocked"),
            ("a3", Delivery.INTERIM, None),
        ]
        unknown = {"data": {"messageId": "a4", "state": "delivered"}}  # not its word for it
        refused = served.post("/hooks/aoc/receipts", json.dumps(unknown), JSON, headers=BEARER)
        assert refused.status_code == 400
        assert "delivered" not in refused.text
        assert len(served.sink.receipts_seen) == 3


def test_without_a_sink_hooks_answer_503(tmp_path: Path) -> None:
    with serving(tmp_path, hooks=False) as served:
        answer = served.post("/hooks/sky/receipts", mt("N202"), XML, headers=BEARER)
        assert answer.status_code == 503
        assert answer.json() == {"error": "hooks are not configured"}


def test_unknown_providers_and_providers_without_hooks_are_404_with_a_reason(
    tmp_path: Path,
) -> None:
    with serving(tmp_path) as served:
        unknown = served.post("/hooks/nobody/receipts", "{}", JSON, headers=BEARER)
        assert unknown.status_code == 404
        quiet = served.post("/hooks/quiet/receipts", "{}", JSON, headers=BEARER)
        assert quiet.status_code == 404
        assert "webhook_token" in quiet.json()["error"]
        notw = served.post("/hooks/notw/inbound", "a=b", FORM)
        assert notw.status_code == 404
        assert "inbound_url" in notw.json()["error"]
        labels = {"provider": "(unknown)", "kind": "receipts", "outcome": "not_found"}
        assert served.metric("smsops_hooks_total", labels) == 1
        assert served.sink.calls == 0


def test_a_sink_that_raises_is_a_503_the_provider_retries(tmp_path: Path) -> None:
    sink = RecordingSink(raises=RuntimeError("database is locked"))
    with serving(tmp_path, sink) as served:
        answer = served.post("/hooks/sky/receipts", mt("N202"), XML, headers=BEARER)
        assert answer.status_code == 503
        labels = {"provider": "sky", "kind": "receipts", "outcome": "failed"}
        assert served.metric("smsops_hooks_total", labels) == 1
        assert served.alive()


def test_a_missing_webhook_token_variable_is_503_and_holds_no_schedule(tmp_path: Path) -> None:
    with serving(tmp_path) as served:
        env = dict(served.service.runner.env)
        del env["OT_HOOK"]
        served.service.runner.env = env
        served.service.runner.config = served.service.runner.config  # re-check the secrets
        answer = served.post("/hooks/ot/receipts", "{}", JSON, headers=BEARER)
        assert answer.status_code == 503
        assert "OT_HOOK" in answer.json()["error"]
        assert served.service.runner.missing == []  # sends never need it
        assert served.sink.calls == 0
