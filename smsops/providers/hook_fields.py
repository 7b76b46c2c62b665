"""The checks every webhook format applies to the values it reads (issue 21).

A body is anyone's: each value is bounded (core.hooks.MAX_*) and checked
here, and a refusal is a 400 whose reason names the field, never its value
(it may be a person's number, or anything at all).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from smsops.core.errors import HookRefused
from smsops.core.hooks import MAX_ERROR, MAX_INBOUND_TEXT, MAX_MESSAGE_ID
from smsops.core.phone import PhoneNumber, normalize

MAX_ADDRESS = 64  # characters of our own number or short code in an inbound text
MAX_TIMESTAMP = 64  # characters of a time
_DIALLABLE = re.compile(r"\+?[0-9(][0-9 ().-]*")


def malformed(reason: str) -> HookRefused:
    return HookRefused(400, reason)


def _printable(value: str) -> bool:
    return value.isprintable()


def message_id(value: object, field: str) -> str:
    """A provider's message id: a string (or an integer), printable, at most MAX_MESSAGE_ID."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise malformed(f"{field} is missing or not a string")
    text = value.strip()
    if len(text) > MAX_MESSAGE_ID or not _printable(text):
        raise malformed(f"{field} is longer than {MAX_MESSAGE_ID} characters or not printable")
    return text


def error_text(value: object) -> str | None:
    """A provider's error code or text, kept for people: one line, cut to MAX_ERROR."""
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    line = " ".join("".join(c if c.isprintable() else " " for c in str(value)).split())
    return line[:MAX_ERROR] or None


def inbound_text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise malformed(f"{field} is missing or not a string")
    if len(value) > MAX_INBOUND_TEXT:
        raise malformed(f"{field} is longer than {MAX_INBOUND_TEXT} characters")
    return value


def sender(value: object, field: str) -> str:
    """The number a person texted from, in E.164 (digits alone are read as +digits)."""
    if not isinstance(value, str) or not value.strip():
        raise malformed(f"{field} is missing or not a string")
    text = value.strip()
    if len(text) > MAX_ADDRESS or not _DIALLABLE.fullmatch(text):  # phonenumbers skips words
        raise malformed(f"{field} is not a valid phone number")
    number = normalize("+" + text if text.isdigit() else text)
    if not isinstance(number, PhoneNumber):
        raise malformed(f"{field} is not a valid phone number")  # never the number itself
    return number.e164


def address(value: object, field: str) -> str:
    """Our number or short code a text was sent to, as the provider gives it."""
    if not isinstance(value, str) or not value.strip():
        raise malformed(f"{field} is missing or not a string")
    text = value.strip()
    if len(text) > MAX_ADDRESS or not _printable(text):
        raise malformed(f"{field} is longer than {MAX_ADDRESS} characters or not printable")
    return text


def timestamp(value: object, field: str, *, strict: bool) -> datetime | None:
    """An ISO 8601 time with its offset, in UTC. Absent: None. Unreadable: a 400 when
    `strict` (our own documented form), else None (a provider's field we only keep)."""
    if value is None:
        return None
    when = None
    if isinstance(value, str) and len(value) <= MAX_TIMESTAMP:
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            when = None
    if when is not None and when.tzinfo is not None:
        return when.astimezone(UTC)
    if strict:
        raise malformed(f"{field} is not an ISO 8601 time with an offset (2026-01-01T10:00:00Z)")
    return None
