"""What every provider's config has; each provider module adds its own fields.

The concrete models live beside their adapters in `smsops.providers.<type>`
and reach the config loader through the provider registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import timedelta
from functools import cache
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.fields import FieldInfo

from smsops.config.types import (
    CREDENTIAL,
    NOT_HERE,
    BaseUrl,
    Count,
    RateLimit,
    SegmentPrice,
    Timeout,
)
from smsops.core.envref import WHOLE_REFERENCE

# The ports a URL without one goes to.
_DEFAULT_PORTS = {"http": 80, "https": 443}

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
    base_url: BaseUrl
    rate_limit: RateLimit | None = Field(
        default=None, description="Messages (not segments) per time, e.g. 20/s or 600/min."
    )
    max_in_flight: Count = Field(default=16, ge=1, le=1024, description="Concurrent requests.")
    timeout: Timeout = Field(default=timedelta(seconds=10))
    price_per_segment: Price | SegmentPrice | None = Field(
        default=None, description="For the plan's cost estimate: a number or {default, regions}."
    )

    @classmethod
    def reference_rule(cls) -> str:
        """Where this provider type reads `${env:...}`: said by every refusal."""
        kind = "/".join(get_args(cls.model_fields["type"].annotation)) or "this"
        allowed = ", ".join(credential_paths(cls)) or "none"
        return (
            f"${{env:...}} references are read only in the credential fields of a provider "
            f"of type {kind} ({allowed}), each written as a whole value like "
            '${env:MY_KEY}, and as the whole of base_url (base_url: "${env:MY_URL}"), so a '
            "reviewer sees every other value: write this value itself"
        )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if WHOLE_REFERENCE.match(value):
            return value  # the plan names it; its value is checked when a request fills it in
        if "${" in value:
            raise ValueError(
                "base_url may name an environment variable only as its whole value "
                '(base_url: "${env:MY_URL}"), never inside a URL, where it would carry the '
                f"variable's value to that host. {cls.reference_rule()}"
            )
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

    def destination(self) -> str:
        """Where requests go, as `scheme://host:port`; a whole reference by its name."""
        if WHOLE_REFERENCE.match(self.base_url):
            return self.base_url
        parts = urlsplit(self.base_url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
        return f"{parts.scheme}://{host}:{port}"

    def lacks(self, category: Category) -> str | None:
        """What this provider is missing to send a template of `category`, if anything."""
        return None

    def price(self) -> Price | None:
        if isinstance(self.price_per_segment, float | int):
            return Price(default=float(self.price_per_segment))
        return self.price_per_segment


def reference_rule(kind: object) -> str:
    """Where a provider of type `kind` reads `${env:...}` (for types.Text's refusal)."""
    todo = list(ProviderBase.__subclasses__())
    while todo:
        model = todo.pop()
        if kind in get_args(model.model_fields["type"].annotation):
            return model.reference_rule()
        todo.extend(model.__subclasses__())
    return NOT_HERE


def _is_credential(info: FieldInfo) -> bool:
    """Whether a field's type carries the CREDENTIAL marker (directly or through `| None`)."""
    return any(marker is CREDENTIAL for marker in info.metadata) or _marked(info.annotation)


def _marked(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        return any(marker is CREDENTIAL for marker in annotation.__metadata__)
    return any(_marked(arg) for arg in get_args(annotation))


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in get_args(annotation):
        yield from _models_in(arg)


@cache
def credential_paths(model: type[BaseModel]) -> tuple[str, ...]:
    """The YAML keys (dotted when nested) of the fields `model` marks as credentials."""
    found: list[str] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        if _is_credential(info):
            found.append(key)
        for nested in _models_in(info.annotation):
            found.extend(f"{key}.{path}" for path in credential_paths(nested))
    return tuple(found)
