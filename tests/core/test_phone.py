from __future__ import annotations

import pytest

from smsops.core.phone import PhoneNumber, mask, normalize


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+447400123456", None, PhoneNumber("+447400123456", "GB")),
        ("07400 123457", "GB", PhoneNumber("+447400123457", "GB")),
        (" +1 (202) 555-0199 ", None, PhoneNumber("+12025550199", "US")),
        ("09820012346", "IN", PhoneNumber("+919820012346", "IN")),
        ("07400 123457", None, "no country code (write +CC… or set default_region)"),
        ("not-a-number", "GB", "not a phone number"),
        ("+44791112", "GB", "not a valid number"),
        ("0123", "GB", "not a valid number for region GB"),
        ("", "GB", "empty phone number"),
    ],
)
def test_normalize(raw: str, region: str | None, expected: PhoneNumber | str) -> None:
    assert normalize(raw, region) == expected


def test_reasons_never_repeat_the_number() -> None:
    for raw in ("+44791112", "07400 12", "+1 202 555"):
        reason = normalize(raw, "GB")
        assert isinstance(reason, str)
        assert not any(chunk in reason for chunk in ("791112", "400 12", "202"))


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+447700900123", "+44 77** ***123"),
        ("+12025550199", "+1 20** ***199"),
        ("+919820012345", "+91 98** ***345"),
    ],
)
def test_mask(e164: str, masked: str) -> None:
    assert mask(e164) == masked


def test_scrub_numbers_hides_numbers_in_provider_errors() -> None:
    from smsops.core.phone import scrub_numbers

    assert (
        scrub_numbers("to: 447400123456 is not valid; +447400123456 blocked; code 4001")
        == "to: *** is not valid; +44 74** ***456 blocked; code 4001"
    )
