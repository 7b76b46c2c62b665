"""Skycore: `x-api-key`; POST `action: sendsms` to the account's endpoint URL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from smsops.config.providers import Skycore
from smsops.providers.base import Accepted, Adapter, Message, Rejected, Result, Uncertain, digits


@dataclass(frozen=True)
class SkycoreAdapter(Adapter):
    config: Skycore
    secret_headers: ClassVar[frozenset[str]] = frozenset({"x-api-key"})

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

    def parse_body(
        self, response: httpx.Response, body: dict[str, Any], messages: Sequence[Message]
    ) -> list[Result]:
        status = str(body.get("status", "")).lower()
        if status == "success":
            tracking = body.get("tracking-id")
            if not tracking:
                return [Uncertain("Skycore said Success without a tracking-id")]
            return [Accepted(message_id=str(tracking))]
        if status == "failure":
            code = body.get("error-code")
            info = body.get("error-info") or "no error-info given"
            return [Rejected(f"Skycore {code or 'error'}: {info}", code=code and str(code))]
        if response.is_client_error:
            return [
                Rejected(f"HTTP {response.status_code}: {body}", code=str(response.status_code))
            ]
        return [Uncertain(f"HTTP {response.status_code} with no Skycore status")]
