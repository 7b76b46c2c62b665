from __future__ import annotations

import random

import phonenumbers
import pytest

from smsops.core.phone import PhoneNumber, is_e164, mask, normalize


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


def _numbers_of_every_region() -> list[str]:
    """Example mobile and fixed numbers of every region, and random digits after every code."""
    found = []
    for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            for kind in (
                phonenumbers.PhoneNumberType.MOBILE,
                phonenumbers.PhoneNumberType.FIXED_LINE,
            ):
                example = phonenumbers.example_number_for_type(region, kind)
                if example is not None:
                    found.append(
                        phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
                    )
        draw = random.Random(code)
        found += [f"+{code}{draw.randrange(10**9):0{draw.randint(4, 12)}d}" for _ in range(8)]
    return found


def test_validity_and_region_are_phonenumbers_own() -> None:
    """normalize validates once where is_valid_number would twice: same answers."""
    for raw in _numbers_of_every_region():
        parsed = phonenumbers.parse(raw)
        found = normalize(raw)
        if phonenumbers.is_valid_number(parsed):
            e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            assert found == PhoneNumber(e164, phonenumbers.region_code_for_number(parsed)), raw
        else:
            assert isinstance(found, str), raw


@pytest.mark.parametrize(
    "written",
    [
        "+1 202 555 0199 ext 5",
        "+1 202-555-0199 x123",
        "+44 7400 123456;ext=9",
        "07400 123456 ext. 42",
    ],
)
def test_a_number_with_an_extension_is_refused_not_sent_without_it(written: str) -> None:
    """A text cannot dial an extension: sending to the number without it would reach the
    switchboard, not the person. phonenumbers parses the extension apart (its own truth)."""
    assert phonenumbers.parse(written, "GB").extension  # the case really has one
    reason = normalize(written, "GB")
    assert isinstance(reason, str)
    assert "extension" in reason
    assert not any(chunk in reason for chunk in ("0199", "123456", "123", "42"))


def test_every_generated_number_with_an_extension_is_refused() -> None:
    draw = random.Random(7)
    for raw in _numbers_of_every_region()[::5]:
        parsed = phonenumbers.parse(raw)
        if not phonenumbers.is_valid_number(parsed):
            continue
        written = f"{raw} {draw.choice(['ext', 'ext.', 'x', '#'])}{draw.randrange(1, 99999)}"
        if phonenumbers.parse(written).extension:
            assert isinstance(normalize(written), str), written
        else:
            assert normalize(written) == normalize(raw), written


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


@pytest.mark.parametrize(
    ("text", "whole"),
    [
        ("+447400123456", True),
        ("+12025550123", True),
        ("+447400123456\n", False),  # `$` would have let the newline through
        ("+44740012345\u0666", False),  # an Arabic-Indic digit: `\d` would take it
        ("+0447400123456", False),
        ("447400123456", False),
        ("+4474001234567890", False),  # 16 digits
        ("+44 7400 123456", False),
        ("", False),
    ],
)
def test_is_e164_takes_one_ascii_number_and_nothing_else(text: str, whole: bool) -> None:
    assert is_e164(text) is whole
