"""Twilio Programmable Messaging: HTTP Basic (Account SID : Auth Token); a form POST to
`/2010-04-01/Accounts/{AccountSid}/Messages.json`; `201` with `sid`; errors `{code, message}`.

The form body (not JSON) carries `To` (E.164), `From` or
`MessagingServiceSid` (the config gives exactly one of `from` and
`messaging_service_sid`), `Body`, `StatusCallback` (an http(s) URL). `201` carries the id as
`sid`; errors are `{code, message, more_info, status}` and become a rejection
with Twilio's `code`; 429 (code 20429) and 503 are retryable, a 5xx otherwise
uncertain. `apply --dry-run` shows the form under `form`, the `Authorization`
header as `***` and the account SID in the URL as `***`.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from smsops.config.providers import HookFormat, ProviderBase, callback_url
from smsops.config.types import BaseUrl, NumberText, SecretRef, Text
from smsops.core import secrets
from smsops.providers.base import (
    Accepted,
    Adapter,
    Documented,
    Message,
    Rejected,
    Retryable,
    Uncertain,
)
from smsops.providers.registry import emulator_on_demand

if TYPE_CHECKING:
    import httpx

    from smsops.providers.emulation import Answer, EmulatedRequest, Emulator, Recorder

TOO_MANY_REQUESTS = 20429


class Twilio(ProviderBase):
    type: Literal["twilio"]

    base_url: BaseUrl = Field(default="https://api.twilio.com", description="The API host.")
    account_sid: SecretRef = Field(description="The Account SID (AC...): the Basic auth user.")
    auth_token: SecretRef = Field(description="The Auth Token: the Basic auth password.")
    from_: NumberText | None = Field(
        default=None, alias="from", description="E.164 number, short code or sender ID."
    )
    messaging_service_sid: Text | None = Field(default=None, description="MG...; or `from`.")
    status_callback: Text | None = Field(
        default=None,
        description="The public URL of this provider's receipts webhook "
        "(https://HOST/hooks/NAME/receipts): sent as StatusCallback, and the URL its "
        "X-Twilio-Signature is checked against.",
    )
    inbound_url: Text | None = Field(
        default=None,
        description="The public URL of this provider's inbound webhook, exactly as set on "
        "the number in Twilio's console: the URL its X-Twilio-Signature is checked against.",
    )
    hook_format: ClassVar[HookFormat] = "twilio"

    @field_validator("status_callback", "inbound_url")
    @classmethod
    def _callback_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        return value if value is None else callback_url(value, str(info.field_name))

    @model_validator(mode="after")
    def _one_sender(self) -> Twilio:
        if (self.from_ is None) == (self.messaging_service_sid is None):
            raise ValueError("give exactly one of from and messaging_service_sid")
        return self


@dataclass(frozen=True)
class TwilioAdapter(Adapter):
    config: Twilio
    secret_headers: ClassVar[frozenset[str]] = frozenset({"authorization"})
    body_encoding: ClassVar[Literal["json", "form"]] = "form"
    rejections: ClassVar[tuple[Documented, ...]] = (
        Documented(
            (400, 401, 404),
            {
                "code": 21211,
                "message": "The 'To' number is not a valid phone number.",
                "more_info": "https://www.twilio.com/docs/errors/21211",
                "status": 400,
            },
        ),
    )

    def build(self, messages: Sequence[Message]) -> httpx.Request:
        (message,) = messages
        sid = self.secret(self.config.account_sid)
        pair = f"{sid}:{self.secret(self.config.auth_token)}"
        # The header carries both base64'd as one string: an echo of it is scrubbed whole.
        secrets.register(pair)
        auth = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        body = {"To": message.recipient, "Body": message.text}
        if self.config.from_ is not None:
            body["From"] = self.secret(self.config.from_)
        elif self.config.messaging_service_sid is not None:
            body["MessagingServiceSid"] = self.secret(self.config.messaging_service_sid)
        if self.config.status_callback is not None:
            body["StatusCallback"] = self.secret(self.config.status_callback)
        # One path segment whatever the variable holds ('*': dry-run's placeholder stays readable).
        path = f"/2010-04-01/Accounts/{quote(sid, safe='*')}/Messages.json"
        return self.post(path, auth, body)

    def accepted(
        self, response: httpx.Response, body: dict[str, Any], messages: Sequence[Message]
    ) -> list[Accepted | Uncertain] | None:
        sid = body.get("sid")
        if sid and isinstance(sid, str):
            return [Accepted(message_id=sid)]
        return [Uncertain(f"Twilio answered HTTP {response.status_code} without a sid")]

    def refused(
        self, response: httpx.Response, body: dict[str, Any]
    ) -> Rejected | Retryable | None:
        code = body.get("code")
        if code is None:
            return None
        reason = f"Twilio {code}: {body.get('message') or response.status_code}"
        if str(code) == str(TOO_MANY_REQUESTS):  # not taken: the account's limit
            return Retryable(reason)
        return Rejected(reason, code=str(code))


async def emulate(request: EmulatedRequest, state: Recorder) -> Answer:
    """Twilio as the sandbox answers it: Basic auth for this account, E.164 `To`, a sender."""
    from smsops.providers.emulation import E164, Answer, Sent

    def fail(status: int, code: int, message: str) -> Answer:
        more_info = f"https://www.twilio.com/docs/errors/{code}"
        payload = {"code": code, "message": message, "more_info": more_info, "status": status}
        return Answer(payload, status)

    sid = request.path_params["account_sid"]
    user, auth_token = _basic(request.headers.get("authorization", ""))
    if user != sid:
        return fail(401, 20003, "Authenticate")
    form = request.form()
    if not E164.match(form.get("To", "")):
        return fail(400, 21211, "The 'To' number is not a valid phone number.")
    if not form.get("From") and not form.get("MessagingServiceSid"):
        return fail(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required.")
    if not form.get("Body"):
        return fail(400, 21602, "Message body is required.")
    callback = form.get("StatusCallback")
    if callback is not None and not _reachable_url(callback):
        return fail(400, 21609, "Invalid StatusCallback")
    message_sid = "SM" + uuid.uuid4().hex
    state.record("twilio", form["To"], form["Body"], message_sid, form)
    sender = form.get("From") or form.get("MessagingServiceSid", "")
    await state.report(Sent("twilio", message_sid, form["To"], sender, sid, callback, auth_token))
    answer: dict[str, Any] = {"sid": message_sid, "account_sid": sid, "to": form["To"]}
    answer |= {"from": form.get("From"), "messaging_service_sid": form.get("MessagingServiceSid")}
    # A Messaging Service picks the sender later: Twilio says `accepted`, not `queued`.
    answer |= {"body": form["Body"], "status": "queued" if "From" in form else "accepted"}
    return Answer(answer | {"direction": "outbound-api", "api_version": "2010-04-01"}, 201)


def _reachable_url(text: str) -> bool:
    """Whether `text` is a URL Twilio could call back: absolute http(s) with a host."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError when out of range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _basic(header: str) -> tuple[str | None, str | None]:
    """The user and password of an HTTP Basic `Authorization` header that has both."""
    scheme, _, encoded = header.partition(" ")
    try:
        user, colon, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return (user, password) if scheme.lower() == "basic" and colon and password else (None, None)


ADAPTER = TwilioAdapter


def _emulator() -> Emulator:
    from smsops.providers import twilio_hooks
    from smsops.providers.emulation import Callbacks, Emulator

    return Emulator(
        "/twilio",
        (("/2010-04-01/Accounts/{account_sid}/Messages.json", emulate),),
        Callbacks(twilio_hooks.status_callbacks, twilio_hooks.incoming_message),
    )


# `EMULATOR`, built when first read: the sandbox's types are no part of validate, plan or apply
__getattr__ = emulator_on_demand(__name__, _emulator)
