"""Opentact: `X-Auth-Token` (JWT); POST /rest/sms with `from`/`to` as numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from smsops.config.providers import ProviderBase
from smsops.config.types import NumberText, SecretRef, Text
from smsops.providers.base import Accepted, Adapter, Message, Rejected, Result, Uncertain, digits

if TYPE_CHECKING:
    import httpx


class Opentact(ProviderBase):
    type: Literal["opentact"]

    base_url: Text = Field(default="https://api.opentact.org", description="The API host.")
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

    def build(self, messages: Sequence[Message]) -> httpx.Request:
        (message,) = messages
        body = {
            # The API documents both numbers as integers (digits, no '+').
            "from": int(digits(self.secret(self.config.from_))),
            "to": int(digits(message.recipient)),
            "message": message.text,
        }
        return self.post("/rest/sms", {"X-Auth-Token": self.secret(self.config.token)}, body)

    def parse_body(
        self, response: httpx.Response, body: dict[str, Any], messages: Sequence[Message]
    ) -> list[Result]:
        payload = body.get("payload")
        if body.get("success") is True and isinstance(payload, dict):
            uuid = payload.get("uuid")
            if uuid:
                return [Accepted(message_id=str(uuid))]
            return [Uncertain("Opentact said success without a payload.uuid")]
        if body.get("success") is False:
            return [
                Rejected(
                    _reason(response, body), code=str(body.get("status") or response.status_code)
                )
            ]
        return [Uncertain(f"HTTP {response.status_code} without an Opentact success flag")]


def _reason(response: httpx.Response, body: dict[str, Any]) -> str:
    """`message`, plus each invalid field (403/500 carry `fields`)."""
    parts = [str(body.get("message") or f"HTTP {response.status_code}")]
    fields = body.get("fields")
    if isinstance(fields, dict):
        for name, detail in fields.items():
            text = detail.get("message") if isinstance(detail, dict) else detail
            parts.append(f"{name}: {text}")
    return "; ".join(parts)


ADAPTER = OpentactAdapter
