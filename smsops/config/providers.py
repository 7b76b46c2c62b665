"""What every provider's config has; each provider module adds its own fields.

The concrete models live beside their adapters in `smsops.providers.<type>`
and reach the config loader through the provider registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from smsops.config.types import (
    CREDENTIAL,
    NOT_HERE,
    BaseUrl,
    Count,
    RateLimit,
    SecretRef,
    SegmentPrice,
    Timeout,
)
from smsops.core.envref import WHOLE_REFERENCE

if TYPE_CHECKING:
    from smsops.core.hooks import Delivery

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


# A field of a provider's own receipt body: a key, or up to four keys joined by dots
# for nested objects (`data.id`).
FieldPath = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,3}$")
]
StatusWord = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MAX_STATUS_WORDS = 20  # per list of `receipts:`; a provider documents a handful
# How webhook bodies of a provider type are read (providers/hooks.py): the generic
# JSON form, or the provider's own documented format.
HookFormat = Literal["generic", "skycore", "twilio"]
# Provider fields only the run server's webhooks read: a send never needs them, so
# an unset variable there holds no schedule (config/secret_refs.py).
HOOK_ONLY_FIELDS = frozenset({"webhook_token"})


class ReceiptFields(BaseModel):
    """Where a provider's own receipt body keeps the message id and status (generic hooks)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id_field: FieldPath = Field(default="message_id", description="The key of the message id.")
    status_field: FieldPath = Field(default="status", description="The key of the status.")
    error_field: FieldPath | None = Field(
        default="error", description="The key of the error code or text, if any."
    )
    delivered: list[StatusWord] = Field(
        default=["delivered"],
        min_length=1,
        max_length=MAX_STATUS_WORDS,
        description="Status values that mean delivered (any case).",
    )
    undelivered: list[StatusWord] = Field(
        default=["undelivered", "failed"],
        min_length=1,
        max_length=MAX_STATUS_WORDS,
        description="Status values that mean it will not arrive (any case).",
    )
    interim: list[StatusWord] = Field(
        default_factory=list,
        max_length=MAX_STATUS_WORDS,
        description="Status values that mean on its way: counted, no row changes.",
    )

    @model_validator(mode="after")
    def _one_meaning_each(self) -> ReceiptFields:
        seen: dict[str, str] = {}
        for kind in ("delivered", "undelivered", "interim"):
            for word in getattr(self, kind):
                if seen.setdefault(word.lower(), kind) != kind:
                    raise ValueError(
                        f"the status {word!r} is listed under both {seen[word.lower()]} and "
                        f"{kind}; give each status one meaning"
                    )
        return self

    def delivery(self, status: str) -> Delivery | None:
        """What a received status means, or None when it is none of the listed ones."""
        from smsops.core.hooks import Delivery  # the webhook types: only `run` reads receipts

        word = status.lower()
        for kind, delivery in (
            (self.delivered, Delivery.DELIVERED),
            (self.undelivered, Delivery.UNDELIVERED),
            (self.interim, Delivery.INTERIM),
        ):
            if any(word == listed.lower() for listed in kind):
                return delivery
        return None


class ProviderBase(BaseModel):
    """Settings every provider has: pacing, timeouts and price."""

    # never validated itself: each provider type's model (a subclass) is built when a
    # config first uses that type (defer_build, inherited)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)
    capabilities: ClassVar[Capabilities] = Capabilities()

    type: str
    base_url: BaseUrl
    rate_limit: RateLimit | None = Field(
        default=None,
        description="Messages (not segments) per time, e.g. 20/s or 600/min: the provider "
        "account's limit, never exceeded in any one second. On a PostgreSQL ledger every "
        "process using it (replicas of `smsops run`, `apply`) shares it by the provider's "
        "name (docs/scale-out.md); on SQLite or memory one process paces itself.",
    )
    max_in_flight: Count = Field(
        default=16,
        ge=1,
        le=1024,
        description="Concurrent requests, per process: K replicas may have K times as many "
        "in flight (docs/scale-out.md).",
    )
    timeout: Timeout = Field(default=timedelta(seconds=10))
    price_per_segment: Price | SegmentPrice | None = Field(
        default=None, description="For the plan's cost estimate: a number or {default, regions}."
    )
    hook_format: ClassVar[HookFormat] = "generic"
    webhook_token: SecretRef | None = Field(
        default=None,
        description="Turns on this provider's webhooks in `smsops run` (docs/hooks.md): the "
        "token callers pass as ?token= or Authorization: Bearer.",
    )
    receipts: ReceiptFields | None = Field(
        default=None,
        description="Names the fields of receipt webhooks when the provider posts its own "
        "JSON shape (docs/hooks.md).",
    )

    @model_validator(mode="after")
    def _hook_fields(self) -> ProviderBase:
        if self.receipts is not None and self.hook_format != "generic":
            raise ValueError(
                f"receipts: is for providers that post the generic JSON form; {self.type} "
                "receipts are read in the provider's own documented format (docs/hooks.md)"
            )
        if self.webhook_token is not None and self.hook_format == "twilio":
            raise ValueError(
                "Twilio signs its callbacks with the auth token (X-Twilio-Signature), so "
                "webhook_token is not used: set status_callback (and inbound_url) instead"
            )
        if self.receipts is not None and self.webhook_token is None:
            raise ValueError("receipts: names the fields of webhooks; set webhook_token too")
        return self

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


def callback_url(value: str, field: str) -> str:
    """A public URL a provider calls back (`status_callback`): http(s), a host, no user,
    no fragment. It is what a provider signs, so it is kept exactly as written."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError when out of range
    except ValueError as exc:
        raise ValueError(f"{field} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{field} must be an http(s) URL the provider can reach, with a host")
    if "@" in parts.netloc or parts.fragment or any(c.isspace() for c in value):
        raise ValueError(f"{field} must hold no user, password, fragment or space")
    return value


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
    """The YAML keys (dotted when nested) of the fields `model` marks as credentials: the
    sending ones first, in field order, then the webhooks' token (a field of every type)."""
    found: list[str] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        if _is_credential(info):
            found.append(key)
        for nested in _models_in(info.annotation):
            found.extend(f"{key}.{path}" for path in credential_paths(nested))
    return tuple(sorted(found, key=lambda path: path in HOOK_ONLY_FIELDS))
