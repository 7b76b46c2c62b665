"""Webhook formats (issue 21): Twilio's signature against Twilio's own validator, the
bounds every format applies, and the `receipts:` / hook fields of the config."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from twilio.request_validator import RequestValidator, add_port, remove_port

from smsops.core.errors import HookRefused
from smsops.core.hooks import MAX_INBOUND_TEXT, MAX_MESSAGE_ID, MAX_RECEIPTS, Delivery
from smsops.providers import generic_hooks, skycore_hooks, twilio_hooks
from smsops.providers.registry import provider_models
from smsops.providers.twilio_hooks import check_signature, twilio_signature
from tests.providers.conftest import CONFIGS


class MultiDict(dict[str, list[str]]):
    """What Twilio's validator reads repeated parameters from (Flask's `getall`)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
urls = st.builds(
    lambda scheme, host, port, path, query: f"{scheme}://{host}{port}/{path}{query}",
    st.sampled_from(["http", "https"]),
    st.sampled_from(["example.com", "hooks.smsops.test", "127.0.0.1", "[::1]"]),
    st.sampled_from(["", ":443", ":80", ":8443"]),
    st.text("abcé/_-%20", max_size=20),
    st.sampled_from(["", "?token=x", "?a=1&b=%C3%A9", "?"]),
)


@settings(max_examples=400, deadline=None)
@given(url=urls, params=st.lists(st.tuples(text, text), max_size=8), token=text.filter(bool))
def test_twilio_signature_is_twilios_own(
    url: str, params: list[tuple[str, str]], token: str
) -> None:
    grouped = MultiDict()
    for name, value in params:
        grouped.setdefault(name, []).append(value)
    expected = RequestValidator(token).compute_signature(url, grouped)
    assert twilio_signature(url, params, token) == expected
    check_signature(url, params, token, expected)
    # Twilio's validator also takes the URL signed with its port written or left out: so do
    # we (not for [IPv6]:port, whose port it cuts at the first colon)
    parsed = urlparse(url)
    if "]:" in url:
        return
    for variant in (add_port(parsed), remove_port(parsed)):
        signature = RequestValidator(token).compute_signature(variant, grouped)
        if RequestValidator(token).validate(url, grouped, signature):
            check_signature(url, params, token, signature)


def test_a_signature_for_another_url_or_other_params_is_refused() -> None:
    url, params = "https://a.test/hooks/tw/receipts", [("MessageSid", "SM1")]
    good = twilio_signature(url, params, "tok")
    for wrong_url, wrong_params, token in [
        ("https://b.test/hooks/tw/receipts", params, "tok"),
        (url, [("MessageSid", "SM2")], "tok"),
        (url, params, "other"),
    ]:
        with pytest.raises(HookRefused) as refused:
            check_signature(url, wrong_params, token, twilio_signature(wrong_url, params, "tok"))
        assert refused.value.status == 401
    check_signature(url, params, "tok", good)


def refused(call: Any, *args: Any) -> str:
    with pytest.raises(HookRefused) as caught:
        call(*args)
    assert caught.value.status == 400
    return caught.value.reason


def test_bounds_of_ids_and_texts() -> None:
    long_id = {"message_id": "m" * (MAX_MESSAGE_ID + 1), "status": "delivered"}
    assert "longer" in refused(generic_hooks.receipts, "ot", None, json.dumps(long_id).encode())
    long_text = {"from": "+447400123456", "to": "x", "text": "a" * (MAX_INBOUND_TEXT + 1)}
    assert "longer" in refused(generic_hooks.inbound, "ot", json.dumps(long_text).encode())
    many = [{"message_id": "m", "status": "delivered"}] * (MAX_RECEIPTS + 1)
    assert str(MAX_RECEIPTS) in refused(
        generic_hooks.receipts, "ot", None, json.dumps(many).encode()
    )
    ok = [{"message_id": "m", "status": "delivered"}] * MAX_RECEIPTS
    assert len(generic_hooks.receipts("ot", None, json.dumps(ok).encode())) == MAX_RECEIPTS


def test_an_invalid_sender_is_refused_without_repeating_it() -> None:
    for number in ("12345", "+999999999999999", "whatsapp:+447400123456"):
        body = json.dumps({"from": number, "to": "x", "text": "STOP"}).encode()
        reason = refused(generic_hooks.inbound, "ot", body)
        assert number not in reason
        assert "from" in reason


def test_a_naive_or_unreadable_time_is_refused_in_the_generic_form_only() -> None:
    for at in ("2026-01-01T10:00:00", "yesterday", 5):
        body = json.dumps({"message_id": "m", "status": "delivered", "at": at}).encode()
        assert "ISO 8601" in refused(generic_hooks.receipts, "ot", None, body)
    postback = (
        b"<POSTBACK><ORIGIN>SMS_MT</ORIGIN><CODE>N202</CODE><TRACKINGID>t</TRACKINGID>"
        b"<TIMESTAMP>01/01/2026 10:00</TIMESTAMP></POSTBACK>"
    )
    (receipt,) = skycore_hooks.read("sky", postback)  # kept without its time
    assert (receipt.at, receipt.delivery) == (None, Delivery.DELIVERED)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ("<ORIGIN>SMS_MT</ORIGIN><CODE>N999</CODE><TRACKINGID>t</TRACKINGID>", "CODE"),
        ("<ORIGIN>SMS_MT</ORIGIN><CODE>N202</CODE>", "TRACKINGID"),
        ("<ORIGIN>SMS_XX</ORIGIN>", "ORIGIN"),
        ("<ORIGIN>SMS_MO</ORIGIN><CODE>N202</CODE>", "N211"),
        ("<ORIGIN>SMS_MO</ORIGIN><CODE>N211</CODE><FROM>+447400123456</FROM><TO>1</TO>", "TEXT"),
        ("<ORIGIN>SMS_MT</ORIGIN><ORIGIN>SMS_MT</ORIGIN>", "more than once"),
    ],
)
def test_skycore_postbacks_missing_or_wrong_fields_are_400(fields: str, reason: str) -> None:
    body = f"<POSTBACK>{fields}</POSTBACK>".encode()
    assert reason in refused(skycore_hooks.read, "sky", body)


def test_twilio_statuses_outside_its_documented_set_are_400() -> None:
    params = [("MessageSid", "SM1"), ("MessageStatus", "teleported")]
    assert "MessageStatus" in refused(twilio_hooks.receipt, "tw", params)
    twice = [("MessageSid", "SM1"), ("MessageSid", "SM2"), ("MessageStatus", "sent")]
    assert "more than once" in refused(twilio_hooks.receipt, "tw", twice)


def model(name: str, **changes: Any) -> Any:
    data = CONFIGS[name] | changes
    return provider_models()[data["type"]].model_validate(data)


def test_hook_fields_of_the_config_are_validated() -> None:
    token = "${env:HOOK}"
    assert model("ot", webhook_token=token).receipts is None
    with pytest.raises(ValidationError, match="secrets never live in YAML"):
        model("ot", webhook_token="plain-token")
    with pytest.raises(ValidationError, match="both delivered and undelivered"):
        model("ot", webhook_token=token, receipts={"delivered": ["ok"], "undelivered": ["OK"]})
    with pytest.raises(ValidationError, match="at most 20"):
        model("ot", webhook_token=token, receipts={"delivered": ["d"] * 21})
    with pytest.raises(ValidationError, match="id_field"):
        model("ot", webhook_token=token, receipts={"id_field": "a.b.c.d.e"})
    with pytest.raises(ValidationError, match="set webhook_token too"):
        model("ot", receipts={})
    with pytest.raises(ValidationError, match="own documented format"):
        model("sky", webhook_token=token, receipts={})
    with pytest.raises(ValidationError, match="X-Twilio-Signature"):
        model("tw", webhook_token=token)
    for bad in ("ftp://x.test/h", "https:///nohost", "https://u:p@x.test/h", "https://x.test/h#f"):
        with pytest.raises(ValidationError, match="status_callback"):
            model("tw", status_callback=bad)
