"""Skycore's postbacks, as its knowledge base documents them (seeds/skycore-postbacks.md).

One XML document per request, root `<POSTBACK>`:
- `ORIGIN` `SMS_MT`: a sent message's status. `CODE` `N201` submitted to the
  carrier (interim), `N202` delivered, `E201` submission failed and `E202`
  sent then failed, expired or not supported (undelivered), matched by
  `TRACKINGID` (the sendsms answer's `tracking-id`). `STATUS` is kept as the
  error of an E-code, `TIMESTAMP` as the receipt's time. A long message is
  one sendsms request with one tracking-id (seed 001: concatenated, billed as
  several): however many postbacks it brings, it is one row, so it counts once.
- `ORIGIN` `SMS_MO`, `CODE` `N211`: a text a person sent, `FROM` (read as
  E.164; digits alone get a `+`), `TO`, `TEXT`, `RECEIVED`.

The sandbox's Skycore emulator writes them here too (`postbacks`, `mo`), so
what it posts is what this reads.

Parsed with defusedxml: a DTD, any entity (billion laughs, quadratic
blowup) or an external reference is refused, never expanded or fetched.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from smsops.core.hooks import Delivery, Inbound, Receipt
from smsops.providers.emulation import Incoming, Post, Sent
from smsops.providers.hook_fields import (
    address,
    error_text,
    inbound_text,
    malformed,
    message_id,
    sender,
    timestamp,
)

MT_CODES = {
    "N201": Delivery.INTERIM,
    "N202": Delivery.DELIVERED,
    "E201": Delivery.UNDELIVERED,
    "E202": Delivery.UNDELIVERED,
}
MO_CODE = "N211"


def read(provider: str, body: bytes) -> list[Receipt] | Inbound:
    """A postback: a receipt (SMS_MT) or an inbound text (SMS_MO), whichever it is.

    Skycore posts both to the account's postback URL, so either hook path takes either.
    """
    # The parser when a postback comes: every command that loads the provider
    # (validate, plan, apply) would otherwise import it, ~1.5 ms of each start.
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise malformed("XML with a DTD, entities or external references is refused") from None
    except (ParseError, ValueError):
        raise malformed("the body is not well-formed XML") from None
    if root.tag != "POSTBACK":
        raise malformed("the root element is not POSTBACK")
    fields: dict[str, str] = {}
    for child in root:
        if not isinstance(child.tag, str):
            continue  # a comment or processing instruction
        if child.tag in fields:
            raise malformed(f"POSTBACK holds {child.tag} more than once")
        fields[child.tag] = "".join(child.itertext())
    origin = fields.get("ORIGIN", "").strip().upper()
    if origin == "SMS_MT":
        return [_status(provider, fields)]
    if origin == "SMS_MO":
        return _reply(provider, fields)
    raise malformed("ORIGIN is neither SMS_MT nor SMS_MO")


def _status(provider: str, fields: dict[str, str]) -> Receipt:
    code = fields.get("CODE", "").strip().upper()
    delivery = MT_CODES.get(code)
    if delivery is None:
        raise malformed(f"an SMS_MT CODE is one of {', '.join(MT_CODES)}")
    error = None
    if delivery is Delivery.UNDELIVERED:
        error = error_text(f"{code} {fields.get('STATUS', '').strip()}")
    return Receipt(
        provider,
        message_id(fields.get("TRACKINGID"), "TRACKINGID"),
        delivery,
        code,
        error,
        timestamp(fields.get("TIMESTAMP"), "TIMESTAMP", strict=False),
    )


def _reply(provider: str, fields: dict[str, str]) -> Inbound:
    if fields.get("CODE", "").strip().upper() != MO_CODE:
        raise malformed(f"an SMS_MO CODE is {MO_CODE}")
    return Inbound(
        provider,
        sender(fields.get("FROM"), "FROM"),
        address(fields.get("TO"), "TO"),
        inbound_text(fields.get("TEXT"), "TEXT"),
        timestamp(fields.get("RECEIVED"), "RECEIVED", strict=False),
    )


# Postbacks as seeds/skycore-postbacks.md shows them (providers/skycore_hooks.py reads them).
POSTBACK_STATUS = {
    "N201": "Message Sent",
    "N202": "Message Sent/Delivered",
    "E202": "Message Sent/Failed",
}


def _postback(fields: dict[str, str]) -> bytes:
    from xml.sax.saxutils import escape

    lines = [f"  <{name}>{escape(value)}</{name}>" for name, value in fields.items()]
    return "\n".join(["<?xml version='1.0'?>", "<POSTBACK>", *lines, "</POSTBACK>", ""]).encode()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def postbacks(sent: Sent, delivered: bool, interim: bool) -> list[Post]:
    """N201 (when `interim`), then N202 or E202, each its own request to the postback URL."""
    assert sent.url is not None
    codes = ["N201"] if interim else []
    codes.append("N202" if delivered else "E202")
    return [
        Post(
            sent.url,
            _postback(
                {
                    "ORIGIN": "SMS_MT",
                    "CODE": code,
                    "STATUS": POSTBACK_STATUS[code],
                    "FROM": sent.sender,
                    "FROM_MASK": sent.sender_mask,
                    "TO": sent.recipient.lstrip("+"),
                    "TRACKINGID": sent.message_id,
                    "SPID": "0001",
                    "TIMESTAMP": _now(),
                    "AGGREGATORID": uuid.uuid4().hex[:16],
                }
            ),
            {"content-type": "application/xml"},
        )
        for code in codes
    ]


def mo(text: Incoming, url: str, secret: str | None) -> Post:
    """An SMS_MO N211 postback: a person's text (the postback URL carries any token)."""
    fields = {"ORIGIN": "SMS_MO", "CODE": "N211", "FROM": text.sender.lstrip("+"), "TO": text.to}
    fields |= {"TEXT": text.text, "RECEIVED": _now(), "TRANSACTIONID": uuid.uuid4().hex[:16]}
    return Post(url, _postback(fields), {"content-type": "application/xml"})
