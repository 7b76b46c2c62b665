"""Opentact: `X-Auth-Token` (JWT); POST /rest/sms with `from`/`to` as numbers.

`from` and `to` are JSON integers (the API validates "integer number"),
beside `message`; the id is `payload.uuid`; a 403/404 answer's `message`
and `fields` become the rejection's reason. The docs print the same body
under 500 too: there it is uncertain (a server error may have taken it).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from smsops.config.providers import ProviderBase
from smsops.config.types import BaseUrl, NumberText, SecretRef
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


class Opentact(ProviderBase):
    type: Literal["opentact"]

    base_url: BaseUrl = Field(default="https://api.opentact.org", description="The API host.")
    token: SecretRef = Field(description="JWT sent as X-Auth-Token.")
    from_: NumberText = Field(
        alias="from", description="Sending number, E.164 (sent as a JSON integer)."
    )

    @field_validator("from_")
    @classmethod
    def _digits(cls, value: str) -> str:
        # Sent as a JSON integer: only a number (with or without '+') can be.
        if "${env:" not in value and not value.removeprefix("+").isdigit():
            raise ValueError(f"{value!r} is not a phone number; Opentact sends `from` as digits")
        return value


@dataclass(frozen=True)
class OpentactAdapter(Adapter):
    config: Opentact
    secret_headers: ClassVar[frozenset[str]] = frozenset({"x-auth-token"})
    # The docs also print this body under 500: a server error may have taken the
    # request all the same, so there it is uncertain (the rule in `Adapter._parse`).
    rejections: ClassVar[tuple[Documented, ...]] = (
        Documented(
            (403,),
            {
                "success": False,
                "message": "string",
                "status": 500,
                "meta": "string",
                "fields": {
                    "params.to": {"message": "invalid integer number", "value": "qwerty123456789"}
                },
            },
        ),
        Documented(
            (404,),
            {"success": False, "status": 404, "message": "TNLease and SMSCampaign not found"},
        ),
    )

    def build(self, messages: Sequence[Message]) -> httpx.Request:
        (message,) = messages
        body = {
            # The API documents both numbers as integers (digits, no '+').
            "from": int(digits(self.secret(self.config.from_))),
            "to": int(digits(message.recipient)),
            "message": message.text,
        }
        return self.post("/rest/sms", {"X-Auth-Token": self.secret(self.config.token)}, body)

    def accepted(
        self, response: httpx.Response, body: dict[str, Any], messages: Sequence[Message]
    ) -> list[Accepted | Uncertain] | None:
        payload = body.get("payload")
        if body.get("success") is not True or not isinstance(payload, dict):
            return None
        uuid = payload.get("uuid")
        if uuid and isinstance(uuid, str):
            return [Accepted(message_id=uuid)]
        return [Uncertain("Opentact said success without a payload.uuid")]

    def refused(self, response: httpx.Response, body: dict[str, Any]) -> Rejected | None:
        if body.get("success") is not False:
            return None
        return Rejected(
            _reason(response, body), code=str(body.get("status") or response.status_code)
        )


def _reason(response: httpx.Response, body: dict[str, Any]) -> str:
    """`message`, plus each invalid field (403/500 carry `fields`)."""
    parts = [str(body.get("message") or f"HTTP {response.status_code}")]
    fields = body.get("fields")
    if isinstance(fields, dict):
        for name, detail in fields.items():
            text = detail.get("message") if isinstance(detail, dict) else detail
            parts.append(f"{name}: {text}")
    return "; ".join(parts)


async def emulate(request: EmulatedRequest, state: Recorder) -> Answer:
    """Opentact as the sandbox answers it: token present, integer numbers, a message."""
    from smsops.providers.emulation import DIGITS, Answer

    if not request.headers.get("x-auth-token"):
        return Answer({"success": False, "status": 403, "message": "Forbidden"}, 403)
    body = request.json() or {}
    invalid = {
        f"params.{name}": {"message": "invalid integer number", "value": body.get(name)}
        for name in ("from", "to")
        if not DIGITS.match(str(body.get(name, ""))) or str(body.get(name, "")).startswith("+")
    }
    if invalid or not body.get("message"):
        if not body.get("message"):
            invalid["params.message"] = {"message": "required", "value": body.get("message")}
        payload = {
            "success": False,
            "message": "Validation failed",
            "status": 403,
            "meta": "params",
        }
        return Answer(payload | {"fields": invalid}, 403)
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    message_uuid = str(uuid.uuid4())
    state.record("opentact", f"+{body['to']}", str(body["message"]), message_uuid, body)
    payload = {
        "uuid": message_uuid,
        "type": "smso",
        "state": "created",
        "from": str(body["from"]),
        "to": int(body["to"]),
        "message": body["message"],
        "thread": uuid.uuid4().hex,
        "delivered": False,
        "automated": False,
        "tn": {"tn": int(body["from"]), "created_on": now, "modified_on": now, "deleted_on": None},
        "created_on": now,
        "modified_on": now,
    }
    return Answer({"success": True, "payload": payload}, 201)


ADAPTER = OpentactAdapter


def _emulator() -> Emulator:
    from smsops.providers.emulation import Emulator

    return Emulator("/opentact", (("/rest/sms", emulate),))


# `EMULATOR`, built when first read: the sandbox's types are no part of validate, plan or apply
__getattr__ = emulator_on_demand(__name__, _emulator)
