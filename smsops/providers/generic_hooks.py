"""The generic JSON webhook form, for providers whose docs describe no receipt format.

Receipts: one object or a list of at most MAX_RECEIPTS,
`{"message_id", "status": "delivered" | "undelivered" | "failed", "error"?, "at"?}`;
a provider's `receipts:` setting names other keys (dotted for nested objects)
and other status words. Inbound: `{"from", "to", "text", "at"?}`. `at` is ISO
8601 with an offset. The body is UTF-8 JSON, at most MAX_JSON_DEPTH deep.
"""

from __future__ import annotations

import json
from typing import Any

from smsops.config.providers import ReceiptFields
from smsops.core.errors import HookRefused
from smsops.core.hooks import MAX_RECEIPTS, Inbound, Receipt
from smsops.providers.base import MAX_JSON_DEPTH, too_deep
from smsops.providers.hook_fields import (
    address,
    error_text,
    inbound_text,
    malformed,
    message_id,
    sender,
    timestamp,
)

DEFAULT_FIELDS = ReceiptFields()


def load(body: bytes) -> Any:
    """The body as JSON: UTF-8 only, bounded in depth (Python's parser recurses)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise malformed("the body is not UTF-8") from None
    if too_deep(body):
        raise malformed(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # ValueError: bad JSON, an integer of 5,000 digits
        raise malformed("the body is not valid JSON") from None


def _at(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def receipts(provider: str, fields: ReceiptFields | None, body: bytes) -> list[Receipt]:
    data = load(body)
    items = data if isinstance(data, list) else [data]
    if not items:
        raise malformed("the body holds no receipt")
    if len(items) > MAX_RECEIPTS:
        raise malformed(f"more than {MAX_RECEIPTS} receipts in one body")
    return [_receipt(provider, fields or DEFAULT_FIELDS, item, n) for n, item in enumerate(items)]


def _receipt(provider: str, fields: ReceiptFields, item: Any, index: int) -> Receipt:
    where = f"receipt {index + 1}: " if index else ""
    if not isinstance(item, dict):
        raise malformed(f"{where}a receipt is a JSON object")
    try:
        ident = message_id(_at(item, fields.id_field), fields.id_field)
        status = _at(item, fields.status_field)
        if not isinstance(status, str):
            raise malformed(f"{fields.status_field} is missing or not a string")
        delivery = fields.delivery(status.strip())
        if delivery is None:  # the value is not repeated: it is the caller's text
            raise malformed(f"{fields.status_field} is none of the statuses configured")
        error = _at(item, fields.error_field) if fields.error_field else None
        at = timestamp(item.get("at"), "at", strict=True)
    except HookRefused as exc:  # said with the receipt's place in the list
        raise malformed(where + exc.reason) from None
    return Receipt(provider, ident, delivery, status.strip(), error_text(error), at)


def inbound(provider: str, body: bytes) -> Inbound:
    data = load(body)
    if not isinstance(data, dict):
        raise malformed("an inbound text is a JSON object")
    return Inbound(
        provider,
        sender(data.get("from"), "from"),
        address(data.get("to"), "to"),
        inbound_text(data.get("text"), "text"),
        timestamp(data.get("at"), "at", strict=True),
    )
