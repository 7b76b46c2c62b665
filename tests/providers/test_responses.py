"""Parsing every response printed in the seeds, and the malformed ones they do not print."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from smsops.providers.base import (
    Accepted,
    Message,
    Rejected,
    Result,
    Retryable,
    Uncertain,
    retry_after,
    transport_error,
)
from tests.providers.conftest import make_adapter

ONE = [Message("+919820012345", "Hello World!")]


def parse(
    name: str, status: int, body: Any, messages: list[Message] = ONE, **kw: Any
) -> list[Result]:
    adapter = make_adapter(name)
    if isinstance(body, (dict, list)):
        response = httpx.Response(status, json=body, **kw)
    else:
        response = httpx.Response(status, content=body, **kw)
    return adapter.parse(response, messages)


# --- SendWithSES (seed 000) -------------------------------------------------
def test_ses_success_has_no_message_id() -> None:
    assert parse("ses", 200, {"success": True, "message": "SMS Sent"}) == [Accepted(None)]


def test_ses_failure() -> None:
    body = {"success": False, "message": "message details", "error": "error details"}
    assert parse("ses", 400, body) == [Rejected("message details; error details", code="400")]


def test_ses_otp_sent() -> None:
    assert parse("ses", 200, {"success": True, "message": "OTP Sent"}) == [Accepted(None)]


# --- Skycore (seed 001) -----------------------------------------------------
def test_skycore_success_tracking_id() -> None:
    body = {
        "status": "Success",
        "tracking-id": "xxxxxxxxxxxx",
        "to": "+10000000001",
        "from": "00000",
        "status-details": "SMS request accepted and queued for delivery",
    }
    assert parse("sky", 200, body) == [Accepted("xxxxxxxxxxxx")]


def test_skycore_failure_code_and_info() -> None:
    body = {
        "status": "Failure",
        "error-code": "E111",
        "error-info": "Invalid Sender.",
        "to": "10000000001",
    }
    assert parse("sky", 200, body) == [Rejected("Skycore E111: Invalid Sender.", code="E111")]


def test_skycore_lowercase_failure_as_the_table_spells_it() -> None:
    body = {"status": "failure", "error-code": "E101", "error-info": "Invalid API Key."}
    assert parse("sky", 401, body) == [Rejected("Skycore E101: Invalid API Key.", code="E101")]


def test_skycore_success_without_tracking_id_is_uncertain() -> None:
    assert isinstance(parse("sky", 200, {"status": "Success"})[0], Uncertain)


# --- Opentact (seed 002) ----------------------------------------------------
PAYLOAD = {
    "uuid": "90c2e069-44c1-4f1a-9619-540432378122",
    "type": "smso",
    "state": "created",
    "from": "123456789",
    "to": 987654321,
    "message": "Hello world",
}


@pytest.mark.parametrize("status", [200, 201])
def test_opentact_success_uuid(status: int) -> None:
    body = {"success": True, "payload": PAYLOAD}
    assert parse("ot", status, body) == [Accepted("90c2e069-44c1-4f1a-9619-540432378122")]


def opentact_field_error() -> dict[str, Any]:
    return {
        "success": False,
        "message": "string",
        "status": 500,
        "meta": "string",
        "fields": {"params.to": {"message": "invalid integer number", "value": "qwerty123456789"}},
    }


def test_opentact_field_errors() -> None:
    assert parse("ot", 403, opentact_field_error()) == [
        Rejected("string; params.to: invalid integer number", code="500")
    ]


def test_opentact_documented_500_is_uncertain_with_its_reason() -> None:
    """The docs print this body under 500 too, but a server error may have taken the request."""
    assert parse("ot", 500, opentact_field_error()) == [
        Uncertain(
            "HTTP 500, the request may have been taken: string; params.to: invalid integer number"
        )
    ]


def test_opentact_not_found() -> None:
    body = {"success": False, "status": 404, "message": "TNLease and SMSCampaign not found"}
    assert parse("ot", 404, body) == [Rejected("TNLease and SMSCampaign not found", code="404")]


# --- AOC (seed 003) ---------------------------------------------------------
def test_aoc_single() -> None:
    body = {
        "id": "58d63c02-XXXX-XXXX-XXXX-XXXXbb39453",
        "data": [{"recipient": "919820012345", "messageId": "58d63c02-XXXXX:1"}],
        "totalCount": 1,
        "message": "Message Sent Successfully!",
        "error": None,
    }
    assert parse("aoc", 200, body) == [Accepted("58d63c02-XXXXX:1")]


def test_aoc_bulk_maps_message_ids_back_per_recipient() -> None:
    messages = [Message(f"+91982001234{i}", "Hi") for i in range(3)]
    body = {
        "id": "b",
        # Out of order on purpose, and one recipient missing from the answer.
        "data": [
            {"recipient": "919820012342", "messageId": "b:3"},
            {"recipient": "919820012340", "messageId": "b:1"},
        ],
        "totalCount": 2,
        "message": "Message Sent Successfully!",
        "error": None,
    }
    results = parse("aoc", 200, body, messages)
    assert results[0] == Accepted("b:1")
    assert isinstance(results[1], Uncertain)
    assert results[2] == Accepted("b:3")


def test_aoc_error() -> None:
    body = {
        "id": None,
        "data": [],
        "totalCount": 0,
        "message": "Message Not Sent",
        "error": "Invalid apiKey",
    }
    assert parse("aoc", 401, body) == [
        Rejected("AOC: Invalid apiKey (Message Not Sent)", code="401")
    ]


# --- what every provider shares: tests/providers/test_conformance_answers.py runs it
# on every registered provider.


def test_retry_after_forms() -> None:
    assert retry_after("7") == 7.0
    assert retry_after("2.5") == 2.5
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: go now
    assert retry_after("soon") is None
    assert retry_after(None) is None


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (httpx.ConnectError("refused"), Retryable),
        (httpx.ConnectTimeout("slow"), Retryable),
        (httpx.PoolTimeout("busy"), Retryable),
        (httpx.ReadTimeout("sent, no answer"), Uncertain),
        (httpx.RemoteProtocolError("peer closed"), Uncertain),
        (httpx.WriteError("broken pipe"), Uncertain),
    ],
)
def test_transport_errors(error: httpx.TransportError, expected: type) -> None:
    assert isinstance(transport_error(error), expected)


def test_a_cut_never_leaves_the_start_of_a_secret() -> None:
    """Reasons are cut to a bounded line, but only after scrubbing: no key prefix survives."""
    from smsops.core import secrets
    from smsops.providers.base import REASON_LIMIT, Rejected, from_outside

    key = "cut-SECRET-77aa99bb"
    secrets.register(key)
    # a plain-text echo whose 120-character snippet would end inside the key
    body = "x" * 100 + f" apiKey: {key} and more"
    (result,) = make_adapter("ot").parse(httpx.Response(400, text=body), ONE)
    assert "cut-SEC" not in result.reason
    long = Rejected("y" * (REASON_LIMIT - 8) + f" {key}\n\tthen more")
    shown = from_outside(long)
    assert isinstance(shown, Rejected)
    assert "cut-" not in shown.reason
    assert "\n" not in shown.reason
    assert len(shown.reason) <= REASON_LIMIT
