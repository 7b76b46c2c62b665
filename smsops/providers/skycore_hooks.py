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

Parsed with defusedxml: a DTD, any entity (billion laughs, quadratic
blowup) or an external reference is refused, never expanded or fetched.
"""

from __future__ import annotations

from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from smsops.core.hooks import Delivery, Inbound, Receipt
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
