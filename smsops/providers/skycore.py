"""Skycore: `x-api-key`; POST `action: sendsms` to the account's endpoint URL.

The body carries `action: sendsms`, `message-text`, `to`, `from`,
`from-mask`, `campaign-ref`, `click-tracking`. Skycore's docs show `to` both
with and without `+`: `number_format: plus` (default) or `digits`. `Failure`
answers map `error-code`/`error-info` to a rejection; the id is
`tracking-id`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from smsops.config.providers import Capabilities, HookFormat, ProviderBase
from smsops.config.types import BaseUrl, NumberText, SecretRef, Text
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

if TYPE_CHECKING:
    import httpx

    from smsops.providers.emulation import Answer, EmulatedRequest, Emulator, Recorder


class Skycore(ProviderBase):
    type: Literal["skycore"]
    capabilities: ClassVar[Capabilities] = Capabilities(sender_mask=True)
    hook_format: ClassVar[HookFormat] = "skycore"  # XML postbacks (providers/skycore_hooks.py)

    base_url: BaseUrl = Field(description="The account's API endpoint URL (no public default).")
    api_key: SecretRef = Field(description="API key, sent as the `x-api-key` header.")
    from_: NumberText = Field(alias="from", description="Short code, toll-free or 10DLC.")
    from_mask: Text | None = Field(default=None, description="Sender mask, at most 11 characters.")
    campaign_ref: Text | None = Field(default=None, description="Campaign reference.")
    enforce_campaign_check: bool = Field(
        default=False, description="Skycore checks the campaign; needs `campaign_ref`."
    )
    click_tracking: bool = Field(
        default=False, description="Skycore rewrites links to count clicks."
    )
    number_format: Literal["plus", "digits"] = Field(
        default="plus", description="Send `to` as +E.164 (plus) or digits only; the docs disagree."
    )

    @field_validator("from_mask")
    @classmethod
    def _mask_length(cls, value: str | None) -> str | None:
        # Skycore silently cuts longer masks; a silent cut is a wrong message.
        if value is not None and "${env:" not in value and len(value) > 11:
            raise ValueError(f"{value!r} has {len(value)} characters; a mask has at most 11")
        return value

    @model_validator(mode="after")
    def _campaign(self) -> Skycore:
        if self.enforce_campaign_check and not self.campaign_ref:
            raise ValueError("campaign_ref is required when enforce_campaign_check is true")
        return self


@dataclass(frozen=True)
class SkycoreAdapter(Adapter):
    config: Skycore
    secret_headers: ClassVar[frozenset[str]] = frozenset({"x-api-key"})
    # The docs print the Failure answer without a status (`status` is "Failure" or "failure").
    rejections: ClassVar[tuple[Documented, ...]] = (
        Documented(
            (200, 400),
            {"status": "Failure", "error-code": "E111", "error-info": "Invalid Sender."},
        ),
        Documented((401,), {"status": "failure", "error-code": "E101", "error-info": "Invalid."}),
    )

    def build(self, messages: Sequence[Message]) -> httpx.Request:
        (message,) = messages
        to = message.recipient if self.config.number_format == "plus" else digits(message.recipient)
        body: dict[str, Any] = {
            "action": "sendsms",
            "message-text": message.text,
            "to": to,
            "from": self.secret(self.config.from_),
        }
        if self.config.from_mask:
            body["from-mask"] = self.secret(self.config.from_mask)
        if self.config.campaign_ref:
            body["campaign-ref"] = self.secret(self.config.campaign_ref)
        body["click-tracking"] = self.config.click_tracking
        return self.post("", {"x-api-key": self.secret(self.config.api_key)}, body)

    def accepted(
        self, response: httpx.Response, body: dict[str, Any], messages: Sequence[Message]
    ) -> list[Accepted | Uncertain] | None:
        if str(body.get("status", "")).lower() != "success":
            return None
        tracking = body.get("tracking-id")
        if not tracking or not isinstance(tracking, str | int):
            return [Uncertain("Skycore said Success without a tracking-id")]
        return [Accepted(message_id=str(tracking))]

    def refused(self, response: httpx.Response, body: dict[str, Any]) -> Rejected | None:
        if str(body.get("status", "")).lower() != "failure":
            return None
        code = body.get("error-code")
        info = body.get("error-info") or "no error-info given"
        return Rejected(f"Skycore {code or 'error'}: {info}", code=code and str(code))


async def emulate(request: EmulatedRequest, state: Recorder) -> Answer:
    """Skycore as the sandbox answers it: key present, action, text, digit numbers."""
    from smsops.providers.emulation import DIGITS, Answer, Sent

    body = request.json() or {}
    to = str(body.get("to", ""))

    def fail(status: int, code: str, info: str) -> Answer:
        payload = {"status": "Failure", "error-code": code, "error-info": info, "to": to}
        return Answer(payload, status)

    if not request.headers.get("x-api-key"):
        return fail(401, "E101", "Invalid API Key.")
    if str(body.get("action", "")).lower() != "sendsms":
        return fail(400, "E102", "Invalid action.")
    text = body.get("message-text")
    if not isinstance(text, str) or not text:
        return fail(400, "E103", "message-text is required.")
    if not DIGITS.match(to):
        return fail(400, "E104", "Invalid recipient phone number.")
    sender = str(body.get("from", ""))
    if not sender.isdigit():
        return fail(400, "E111", "Invalid Sender.")
    tracking = uuid.uuid4().hex[:12]
    recipient = "+" + to.lstrip("+")
    state.record("skycore", recipient, text, tracking, body)
    mask = body.get("from-mask")
    account = request.path_params.get("account", "")
    sent = Sent("skycore", tracking, recipient, sender, account, sender_mask=str(mask or ""))
    await state.report(sent)
    return Answer(
        {
            "status": "Success",
            "tracking-id": tracking,
            "to": to,
            "from": sender,
            "status-details": "SMS request accepted and queued for delivery",
        }
    )


ADAPTER = SkycoreAdapter


def _emulator() -> Emulator:
    # `/skycore/NAME`: the same API, as account NAME (whose postback URL the sandbox may know).
    from smsops.providers import skycore_hooks
    from smsops.providers.emulation import Callbacks, Emulator

    return Emulator(
        "/skycore",
        (("", emulate), ("/{account}", emulate)),
        Callbacks(skycore_hooks.postbacks, skycore_hooks.mo),
    )


# `EMULATOR`, built when first read: the sandbox's types are no part of validate, plan or apply
__getattr__ = emulator_on_demand(__name__, _emulator)
