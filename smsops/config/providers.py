"""What every provider's config has; each provider module adds its own fields.

The concrete models live beside their adapters in `smsops.providers.<type>`
and reach the config loader through the provider registry.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import timedelta
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smsops.config.types import Count, RateLimit, SegmentPrice, Text, Timeout

Category = Literal["transactional", "marketing", "otp"]


@dataclass(frozen=True)
class Capabilities:
    """What a provider's API supports; validation refuses configs that need more."""

    flash: bool = False
    provider_templates: bool = False
    otp: bool = False
    bulk: bool = False
    sender_mask: bool = False
    unicode_flag: bool = False

    def lacking(self, needed: Capabilities) -> list[str]:
        """What `needed` asks for that this lacks, as a person reads it (`flash SMS`)."""
        return [
            LABELS[feature.name]
            for feature in fields(self)
            if getattr(needed, feature.name) and not getattr(self, feature.name)
        ]


LABELS = {
    "flash": "flash SMS",
    "provider_templates": "provider templates",
    "otp": "OTP",
    "bulk": "bulk sends",
    "sender_mask": "a sender mask",
    "unicode_flag": "a unicode flag",
}


class Price(BaseModel):
    """Cost of one segment: a default and per-country overrides by ISO region (GB, US...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: SegmentPrice
    regions: dict[str, SegmentPrice] = Field(default_factory=dict)
    currency: str = "USD"

    @field_validator("regions")
    @classmethod
    def _upper_regions(cls, value: dict[str, float]) -> dict[str, float]:
        return {region.upper(): price for region, price in value.items()}

    def for_region(self, region: str | None) -> float:
        return self.regions.get(region or "", self.default)


class ProviderBase(BaseModel):
    """Settings every provider has: pacing, timeouts and price."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    capabilities: ClassVar[Capabilities] = Capabilities()

    type: str
    base_url: Text
    rate_limit: RateLimit | None = Field(
        default=None, description="Messages (not segments) per time, e.g. 20/s or 600/min."
    )
    max_in_flight: Count = Field(default=16, ge=1, le=1024, description="Concurrent requests.")
    timeout: Timeout = Field(default=timedelta(seconds=10))
    price_per_segment: Price | SegmentPrice | None = Field(
        default=None, description="For the plan's cost estimate: a number or {default, regions}."
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if "${env:" in value:
            return value.rstrip("/")  # checked when a request fills it in
        authority = value.partition("://")[2].partition("/")[0]
        if "@" in authority:
            # never quoted: the part before @ is a credential
            raise ValueError(
                "base_url must not hold a user or password (user:password@host); "
                "credentials go in the provider's ${env:...} key fields"
            )
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError when out of range
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid URL: {exc}") from None
        if not parts.hostname:
            raise ValueError(f"{value!r} names no host")
        return value.rstrip("/")

    def lacks(self, category: Category) -> str | None:
        """What this provider is missing to send a template of `category`, if anything."""
        return None

    def price(self) -> Price | None:
        if isinstance(self.price_per_segment, float | int):
            return Price(default=float(self.price_per_segment))
        return self.price_per_segment
