"""Provider config models: one per `type`, a discriminated union, and what each can do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from smsops.config.types import Duration, NumberText, RateLimit, SecretRef, Text

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


class Price(BaseModel):
    """Cost of one segment: a default and per-country overrides by ISO region (GB, US...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: float = Field(ge=0)
    regions: dict[str, float] = Field(default_factory=dict)
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
    max_in_flight: int = Field(default=16, ge=1, le=1024, description="Concurrent requests.")
    timeout: Duration = Field(default=timedelta(seconds=10))
    price_per_segment: Price | float | None = Field(
        default=None, description="For the plan's cost estimate: a number or {default, regions}."
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if "${env:" not in value and not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    def price(self) -> Price | None:
        if isinstance(self.price_per_segment, float | int):
            return Price(default=float(self.price_per_segment))
        return self.price_per_segment


class TemplateKeys(BaseModel):
    """SendWithSES issues one key per SMS type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transactional: SecretRef | None = None
    marketing: SecretRef | None = None
    otp: SecretRef | None = None


class SendWithSES(ProviderBase):
    type: Literal["sendwithses"]
    capabilities: ClassVar[Capabilities] = Capabilities(otp=True, sender_mask=True)

    base_url: Text = "https://api.sendwithses.com"
    template_keys: TemplateKeys
    sender_id: Text | None = None
    origination_number: NumberText | None = Field(
        default=None, description="E.164; required to send to US numbers."
    )


class Skycore(ProviderBase):
    type: Literal["skycore"]
    capabilities: ClassVar[Capabilities] = Capabilities(sender_mask=True)

    base_url: Text = Field(description="The account's API endpoint URL (no public default).")
    api_key: SecretRef
    from_: NumberText = Field(alias="from", description="Short code, toll-free or 10DLC.")
    from_mask: Text | None = Field(default=None, description="Sender mask, at most 11 characters.")
    campaign_ref: Text | None = None
    enforce_campaign_check: bool = False
    click_tracking: bool = False
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


class Opentact(ProviderBase):
    type: Literal["opentact"]

    base_url: Text = "https://api.opentact.org"
    token: SecretRef = Field(description="JWT sent as X-Auth-Token.")
    from_: NumberText = Field(alias="from")


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

    base_url: Text = Field(description="The white-label host, e.g. https://one.telepie.com.")
    api_key: SecretRef
    sender: Text
    route: Literal["TRANS", "PROMO", "OTP"] | None = Field(
        default=None, description="Default: from the template category (TRANS/PROMO/OTP)."
    )
    bulk_size: int = Field(default=100, ge=1, le=1000, description="Recipients per bulk request.")


Provider = Annotated[SendWithSES | Skycore | Opentact | Aoc, Field(discriminator="type")]
PROVIDER_TYPES: dict[str, type[ProviderBase]] = {
    "sendwithses": SendWithSES,
    "skycore": Skycore,
    "opentact": Opentact,
    "aoc": Aoc,
}
