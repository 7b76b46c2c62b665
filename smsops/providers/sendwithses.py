"""SendWithSES: one `template-key` per SMS type; POST /send-sms, /send-otp, /verify-otp.

The `template-key` header is chosen by the template's category; `POST
/send-sms` carries `sender_id`, `mobile` (E.164), `message`, and
`origination_number` only for US recipients (a US recipient with no
origination number is skipped before any request). Templates of category
`otp` go to `POST /send-otp` (SendWithSES writes the OTP text itself from
its own OTP template); `/verify-otp` requests are built too. SendWithSES
returns no message id.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from smsops.config.providers import Capabilities, Category, ProviderBase
from smsops.config.types import BaseUrl, NumberText, SecretRef, Text
from smsops.core.skips import SkipReason
from smsops.providers.base import Accepted, Adapter, Documented, Message, Rejected, Uncertain
from smsops.providers.registry import emulator_on_demand

if TYPE_CHECKING:
    import httpx

    from smsops.providers.emulation import Answer, EmulatedRequest, Emulator, Recorder

US = "US"
# NANP numbers (+1) are US or Canada; SendWithSES requires the origination number for them.
NANP = "+1"


class TemplateKeys(BaseModel):
    """SendWithSES issues one key per SMS type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transactional: SecretRef | None = Field(default=None, description="For `transactional`.")
    marketing: SecretRef | None = Field(default=None, description="Key for `marketing` templates.")
    otp: SecretRef | None = Field(default=None, description="Key for `otp` templates.")


class SendWithSES(ProviderBase):
    type: Literal["sendwithses"]
    capabilities: ClassVar[Capabilities] = Capabilities(otp=True, sender_mask=True)

    base_url: BaseUrl = Field(default="https://api.sendwithses.com", description="The API host.")
    template_keys: TemplateKeys = Field(
        description="One key per category sent (the `template-key` header)."
    )
    sender_id: Text | None = Field(default=None, description="Sender name shown to recipients.")
    origination_number: NumberText | None = Field(
        default=None, description="E.164; required to send to US numbers."
    )

    def lacks(self, category: Category) -> str | None:
        if getattr(self.template_keys, category) is None:
            return f"template_keys.{category}"
        return None


@dataclass(frozen=True)
class SendWithSESAdapter(Adapter):
    config: SendWithSES
    secret_headers: ClassVar[frozenset[str]] = frozenset({"template-key"})
    makes_otp_codes: ClassVar[bool] = True  # /send-otp makes the code, /verify-otp checks it
    # The docs print the "Failed Response" without a status; the API answers 4xx with it.
    rejections: ClassVar[tuple[Documented, ...]] = (
        Documented(
            (200, 400, 401, 404),
            {"success": False, "message": "message details", "error": "error details"},
        ),
    )

    def skip_reason(self, region: str | None) -> tuple[SkipReason, str] | None:
        if region == US and not self.config.origination_number:
            detail = f"provider {self.name!r} has no origination_number, required for US numbers"
            return SkipReason.NO_ORIGINATION_NUMBER, detail
        return None

    def build(self, messages: Sequence[Message]) -> httpx.Request:
        (message,) = messages
        if message.category == "otp":
            # SendWithSES composes OTP texts itself from the OTP template at SES.
            return self.send_otp(message.recipient, message.region)
        body = self._sender(message.region) | {"mobile": message.recipient, "message": message.text}
        return self.post("/send-sms", self._headers(message.category), body)

    def send_otp(self, recipient: str, region: str | None) -> httpx.Request:
        body = self._sender(region) | {"mobile": recipient}
        return self.post("/send-otp", self._headers("otp"), body)

    def verify_otp(self, recipient: str, code: str) -> httpx.Request:
        return self.post("/verify-otp", self._headers("otp"), {"mobile": recipient, "otp": code})

    def accepted(
        self, response: httpx.Response, body: dict[str, Any], messages: Sequence[Message]
    ) -> list[Accepted | Uncertain] | None:
        if body.get("success") is True:  # the boolean: `"true"` is no documented answer
            return [Accepted(message_id=None)]  # SendWithSES returns no message id
        return None

    def refused(self, response: httpx.Response, body: dict[str, Any]) -> Rejected | None:
        if body.get("success") is not False:
            return None
        detail = "; ".join(str(body[k]) for k in ("message", "error") if body.get(k))
        reason = detail or f"HTTP {response.status_code} without success"
        return Rejected(reason, code=str(response.status_code))

    def _headers(self, category: Category) -> dict[str, str]:
        key = getattr(self.config.template_keys, category)
        if key is None:
            raise ValueError(f"provider {self.name!r} has no template_keys.{category}")
        return {"template-key": self.secret(key)}

    def _sender(self, region: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.config.sender_id:
            body["sender_id"] = self.secret(self.config.sender_id)
        if region == US and self.config.origination_number:
            body["origination_number"] = self.secret(self.config.origination_number)
        return body


async def emulate(request: EmulatedRequest, state: Recorder) -> Answer:
    """SendWithSES as the sandbox answers it: key present, E.164 numbers, the US rule."""
    from smsops.providers.emulation import E164, Answer

    kind = request.path_params["action"]

    def fail(status: int, message: str, error: str) -> Answer:
        return Answer({"success": False, "message": message, "error": error}, status)

    if kind not in ("send-sms", "send-otp", "verify-otp"):
        return fail(404, "Not found", f"no endpoint /{kind}")

    if not request.headers.get("template-key"):
        return fail(401, "Unauthorized", "the template-key header is required")
    body = request.json()
    if body is None:
        return fail(400, "Bad request", "the body must be a JSON object")
    mobile = str(body.get("mobile", ""))
    if not E164.match(mobile):
        return fail(400, "Invalid mobile", "mobile numbers must be in E.164 format")
    if kind == "verify-otp":
        ok = state.otp_codes.get(mobile) == str(body.get("otp", ""))
        return (
            Answer({"success": True, "message": "OTP Verified"})
            if ok
            else fail(400, "OTP not verified", "the code does not match")
        )
    origination = body.get("origination_number")
    if mobile.startswith(NANP) and not origination:
        return fail(400, "Origination number required", "sending to USA numbers needs one")
    if origination is not None and not E164.match(str(origination)):
        return fail(400, "Invalid origination number", "it must be in E.164 format")
    if kind == "send-otp":
        code = f"{secrets.randbelow(10**6):06d}"
        state.otp_codes[mobile] = code
        state.record("sendwithses", mobile, f"Your code is {code}", None, body)
        return Answer({"success": True, "message": "OTP Sent"})
    text = body.get("message")
    if not isinstance(text, str) or not text:
        return fail(400, "Invalid message", "message is required")
    state.record("sendwithses", mobile, text, None, body)
    return Answer({"success": True, "message": "SMS Sent"})


ADAPTER = SendWithSESAdapter


def _emulator() -> Emulator:
    from smsops.providers.emulation import Emulator

    return Emulator("/sendwithses", (("/{action:str}", emulate),))


# `EMULATOR`, built when first read: the sandbox's types are no part of validate, plan or apply
__getattr__ = emulator_on_demand(__name__, _emulator)
