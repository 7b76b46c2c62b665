"""Phone numbers to E.164 with `phonenumbers`, with a reason when one is not valid."""

from __future__ import annotations

import re
from functools import cache
from typing import NamedTuple

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "no country code (write +CC… or set default_region)",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}


class PhoneNumber(NamedTuple):  # a tuple: made per CSV row, at a third of a dataclass's cost
    e164: str
    region: str | None  # ISO 3166 region, e.g. GB; None for non-geographic numbers


def normalize(raw: str, default_region: str | None = None) -> PhoneNumber | str:
    """The number in E.164, or a reason (a string) why it cannot be sent to.

    Reasons never repeat the number: they end up in plans and PR comments.
    """
    text = raw.strip()
    if not text:
        return "empty phone number"
    try:
        parsed = phonenumbers.parse(text, default_region)
    except NumberParseException as exc:
        return _PARSE_REASONS.get(exc.error_type, "not a phone number")
    if parsed.extension:
        # A text cannot dial an extension: sending to the number without it would
        # reach a switchboard, not the person the row names.
        return "has an extension (ext/x…): a text message cannot reach one; remove it"
    region = _valid_region(parsed)
    if region is None:
        national = default_region and not text.startswith("+")
        return "not a valid number" + (f" for region {default_region}" if national else "")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return PhoneNumber(e164, region)


def region_code(value: str) -> str:
    """An ISO 3166 region code as phonenumbers knows it (`gb` is GB); ValueError if none."""
    region = value.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"{value!r} is not an ISO 3166 region code phonenumbers knows (GB, US, IN...)"
        )
    return region


def shown(text: str, limit: int = 40) -> str:
    """What a person typed, fit to quote in an error: numbers in it masked, bounded."""
    scrubbed = scrub_numbers(text)
    return scrubbed if len(scrubbed) <= limit else scrubbed[: limit - 3] + "..."


def _valid_region(parsed: phonenumbers.PhoneNumber) -> str | None:
    """The region of a valid number, None for an invalid one: `is_valid_number`, checked once.

    is_valid_number() is region_code_for_number() then is_valid_number_for_region().
    Where a calling code has several regions (+1, +44, +7, ...), the first step
    already validates the number against each region without leading digits,
    and the second validates it again: a fifth of the cost of a number. This
    is the same walk over the same public metadata, validating once.
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(parsed.country_code or 0)
    if not regions:
        return None
    if len(regions) == 1:
        valid = phonenumbers.is_valid_number_for_region(parsed, regions[0])
        return regions[0] if valid else None
    national = phonenumbers.national_significant_number(parsed)
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if _leading(metadata.leading_digits).match(national):  # the number's region
                return region if phonenumbers.is_valid_number_for_region(parsed, region) else None
        elif phonenumbers.is_valid_number_for_region(parsed, region):
            return region
    return None


@cache
def _leading(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def mask(e164: str) -> str:
    """`+44 77** ***123`: the country code, two digits and the last three; never more."""
    try:
        parsed = phonenumbers.parse(e164)
        country = str(parsed.country_code)
    except NumberParseException:
        country = ""
    national = e164.removeprefix("+").removeprefix(country)
    if len(national) < 6:
        return f"+{country} {'*' * len(national)}"
    hidden = "*" * (len(national) - 5)
    middle = f"{national[:2]}{hidden}"
    return f"+{country} {middle[:4]} {middle[4:]}{national[-3:]}".replace("  ", " ")


# Exactly the shapes `mask` writes, built from it: "+" and the country code (none when it
# could not be parsed), a space, then the national number as two digits, its hidden
# middle as stars (one or two, a space, the rest) and its last three digits, or, for a
# national number under six digits, only stars. A full number, in any spelling, has no
# star: a field that must hold a masked number (a plan file's) is checked with this.
_MASKED = re.compile(r"\+\d{0,3} (?:\d{2}(?:\* |\*\* \*{0,12})\d{3}|\*{1,5})")


def is_masked(text: str) -> bool:
    """Whether `text` is exactly a number as `mask` shows it, and nothing else."""
    return _MASKED.fullmatch(text) is not None


_LONG_NUMBER = re.compile(r"\+?\d[\d ()-]{5,}\d")


def holds_number(text: str, e164: str) -> bool:
    """Whether `text` writes the number `e164` in its digits: international or national
    (`447400123456`, `07400123456`), with any separators between them (`44.7400-123456`)."""
    national = str(phonenumbers.parse(e164).national_number)
    return national in "".join(c for c in text if "0" <= c <= "9")


def scrub_numbers(text: str) -> str:
    """Hide anything that looks like a phone number in free text (provider errors)."""
    return _LONG_NUMBER.sub(
        lambda m: mask(m.group(0)) if m.group(0).startswith("+") else "***", text
    )


_E164 = re.compile(r"\+[1-9]\d{6,14}(?!\d)")
# A whole text that is an E.164 number: ASCII digits only (`\d` takes any script's), and
# anchored at both ends (`$` would let a trailing newline through).
E164_WHOLE = re.compile(r"\A\+[1-9][0-9]{6,14}\Z")


def is_e164(text: str) -> bool:
    """Whether `text` is one number in E.164 form and nothing else."""
    return E164_WHOLE.match(text) is not None


def mask_e164(text: str) -> str:
    """Mask every `+` number in `text`: strict enough for whole log lines (times stay)."""
    return _E164.sub(lambda m: mask(m.group(0)), text)


def hide_number(text: str, e164: str) -> str:
    """`text` with this number (as E.164 or digits) masked: a template may print it."""
    shown = mask(e164)
    return text.replace(e164, shown).replace(e164.removeprefix("+"), shown)
