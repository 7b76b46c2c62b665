"""AOC programmable SMS: `apiKey`; POST /sms; bulk via comma-separated `to`.

The body carries `sender`, `to` (digits), `text`, `type` (`route`, or
TRANS/PROMO/OTP from the template's category), `unicode: 1` exactly when the
text needs UCS-2, `flash: 1`, and for a provider template `templateId` + `custom` (in
`provider_template.variables` order, `send: custom`) or `templateId` + the
rendered `text` (`send: text`), each as seed 003 prints it. Identical texts
are sent in bulk (`to` comma-separated, up to `bulk_size`, at most
`rate_limit` per request) and each `data[].messageId` is mapped back to its
recipient; a recipient missing from the answer is uncertain, and a 5xx is
uncertain (part of a bulk may be queued), a bulk request's 503 included.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from smsops.config.providers import Capabilities, ProviderBase
from smsops.config.types import BaseUrl, Count, SecretRef, Text
from smsops.providers.base import (
    Accepted,
    Adapter,
    Documented,
    Message,
    Rejected,
    Uncertain,
    digits,
)
from smsops.providers.registry import emulator_on_demand

ROUTES = {"transactional": "TRANS", "marketing": "PROMO", "otp": "OTP"}


if TYPE_CHECKING:
    import httpx

    from smsops.providers.emulation import Answer, EmulatedRequest, Emulator, Recorder


class Aoc(ProviderBase):
    type: Literal["aoc"]
    capabilities: ClassVar[Capabilities] = Capabilities(
        flash=True,
        provider_templates=True,
        otp=True,
        bulk=True,
        sender_mask=True,
        unicode_flag=True,
    )

    base_url: BaseUrl = Field(description="The white-label host, e.g. https://one.telepie.com.")
    api_key: SecretRef = Field(description="API key, sent as the `apiKey` header.")
    sender: Text = Field(description="Sender ID the account is approved to send from.")
    route: Literal["TRANS", "PROMO", "OTP"] | None = Field(
        default=None, description="Default: from the template category (TRANS/PROMO/OTP)."
    )
    bulk_size: Count = Field(default=100, ge=1, le=1000, description="Recipients per bulk request.")


@dataclass(frozen=True)
class AocAdapter(Adapter):
    config: Aoc
    secret_headers: ClassVar[frozenset[str]] = frozenset({"apikey"})
    # The docs print the answer's shape with `"error": null`; a refusal fills `error`.
    rejections: ClassVar[tuple[Documented, ...]] = (
        Documented(
            (400, 401),
            {
                "id": None,
                "data": [],
                "totalCount": 0,
                "message": "Message Not Sent",
                "error": "Invalid apiKey",
            },
        ),
    )

    @property
    def batch_size(self) -> int:
        return self.config.bulk_size

    def build(self, messages: Sequence[Message]) -> httpx.Request:
        first = messages[0]
        # Bulk requests carry one text: the engine only batches identical messages.
        sender = self.secret(self.config.sender)
        to = ",".join(digits(m.recipient) for m in messages)
        route = self.config.route or ROUTES[first.category]
        body: dict[str, Any]
        if first.template_id is None:
            body = {"sender": sender, "to": to, "text": first.text, "type": route}
        elif first.template_form == "text":  # seed 003, "Send Template SMS", in its order
            body = {"sender": sender, "to": to, "text": first.text, "type": route}
            body["templateId"] = first.template_id
        else:  # seed 003, "Send SMS with templateId"
            body = {"sender": sender, "to": to, "type": route}
            body |= {"templateId": first.template_id, "custom": list(first.custom)}
        if first.ucs2:
            body["unicode"] = 1
        if first.flash:
            body["flash"] = 1
        return self.post("/sms", {"apiKey": self.secret(self.config.api_key)}, body)

    def partly_processed(self, messages: Sequence[Message]) -> bool:
        return len(messages) > 1  # a failing server may have queued part of a bulk request

    def accepted(
        self, response: httpx.Response, body: dict[str, Any], messages: Sequence[Message]
    ) -> list[Accepted | Uncertain] | None:
        data = body.get("data")
        if body.get("error") is not None or not isinstance(data, list):
            return None
        ids = {
            str(item.get("recipient", "")).strip(): str(item["messageId"])
            for item in data
            if isinstance(item, dict) and isinstance(item.get("messageId"), str | int)
        }
        return [_result(ids, digits(m.recipient)) for m in messages]

    def refused(self, response: httpx.Response, body: dict[str, Any]) -> Rejected | None:
        error = body.get("error")
        if not error:
            return None
        message = f" ({body['message']})" if body.get("message") else ""
        return Rejected(f"AOC: {error}{message}", code=str(response.status_code))


def _result(ids: dict[str, str], recipient: str) -> Accepted | Uncertain:
    if recipient in ids:
        return Accepted(message_id=ids[recipient])
    # Accepted as a whole but this number is not listed: it may or may not go out.
    return Uncertain("AOC accepted the request but listed no messageId for this recipient")


async def emulate(request: EmulatedRequest, state: Recorder) -> Answer:
    """AOC as the sandbox answers it: key present, required fields, MSISDNs, bulk ids."""
    from smsops.providers.emulation import Answer

    def fail(status: int, error: str) -> Answer:
        payload: dict[str, Any] = {
            "id": None,
            "data": [],
            "totalCount": 0,
            "message": "Message Not Sent",
        }
        return Answer(payload | {"error": error}, status)

    if not request.headers.get("apikey"):
        return fail(401, "Invalid apiKey")
    body = request.json()
    if body is None:
        return fail(400, "the body must be a JSON object")
    for required in ("sender", "to", "type"):
        if not body.get(required):
            return fail(400, f"{required} is required")
    if body["type"] not in ("TRANS", "PROMO", "OTP"):
        return fail(400, "type must be TRANS, PROMO or OTP")
    if "templateId" in body and "text" in body and "custom" in body:
        return fail(400, "templateId takes either text or custom, not both")
    if "templateId" in body and "text" not in body and isinstance(body.get("custom"), list):
        text = f"[template {body['templateId']}] " + " | ".join(map(str, body["custom"]))
    elif "templateId" in body and not body.get("text"):
        return fail(
            400,
            "templateId needs custom (an array, blank when the template has no variables) "
            "or text (the template's text, not empty)",
        )
    elif not body.get("text"):
        return fail(400, "text is required")
    else:
        text = str(body["text"])
    recipients = [part.strip() for part in str(body["to"]).split(",")]
    if not all(part.isdigit() and 8 <= len(part) <= 15 for part in recipients):
        return fail(400, "to must be MSISDNs (digits with country code), comma-separated")
    batch = str(uuid.uuid4())
    data = [{"recipient": r, "messageId": f"{batch}:{i}"} for i, r in enumerate(recipients, 1)]
    for item in data:
        state.record("aoc", f"+{item['recipient']}", text, item["messageId"], body)
    payload: dict[str, Any] = {"id": batch, "data": data, "totalCount": len(data)}
    payload |= {k: 1 for k in ("unicode", "flash") if body.get(k) == 1}
    return Answer(payload | {"message": "Message Sent Successfully!", "error": None})


ADAPTER = AocAdapter


def _emulator() -> Emulator:
    from smsops.providers.emulation import Emulator

    return Emulator("/aoc", (("/sms", emulate),))


# `EMULATOR`, built when first read: the sandbox's types are no part of validate, plan or apply
__getattr__ = emulator_on_demand(__name__, _emulator)
