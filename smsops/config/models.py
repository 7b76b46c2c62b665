"""Models of templates, audiences and schedules, and the root of a config file."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from smsops.config.opt_out import OPT_IN_KEYWORDS as OPT_IN_KEYWORDS
from smsops.config.opt_out import OPT_OUT_KEYWORDS as OPT_OUT_KEYWORDS
from smsops.config.opt_out import OptOut as OptOut
from smsops.config.opt_out import keyword as keyword
from smsops.config.otp import DEFAULT_POLICY, OtpPolicy
from smsops.config.otp import OtpSettings as OtpSettings
from smsops.config.providers import Category
from smsops.config.types import (
    Amount,
    ClockTime,
    Count,
    Interval,
    NumberText,
    Scalar,
    SecretRef,
    Window,
)
from smsops.core.units import YEARS

RECIPIENT_TIMEZONE = "recipient"
DEFAULT_WINDOW = timedelta(hours=1)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ProviderTemplate(_Model):
    """A template registered at the provider: AOC `templateId` with either the `custom`
    array (`send: custom`) or the rendered body as `text` (`send: text`)."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    id: str = Field(min_length=1)
    # Before `variables`, which is checked against it.
    send: Literal["custom", "text"] = Field(
        default="custom",
        description="custom: templateId + the `custom` array of `variables`; "
        "text: templateId + the rendered body as `text`.",
    )
    variables: list[str] = Field(
        default_factory=list, description="Order of the `custom` array sent to the provider."
    )

    @field_validator("variables")
    @classmethod
    def _unique(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if value and info.data.get("send") == "text":
            raise ValueError(
                "send: text sends the rendered body beside the template id, with no `custom` "
                "array: leave `variables` out, or write send: custom to send them as `custom`"
            )
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"variables are listed twice: {', '.join(repeated)}")
        return value


class QuietHours(_Model):
    """No sends between `start` and `end`, in the recipient's local time."""

    start: ClockTime
    end: ClockTime


class Template(_Model):
    category: Category
    body: str = Field(min_length=1, description="Jinja text; rendered sandboxed and strict.")
    provider_template: ProviderTemplate | None = None
    flash: bool = Field(default=False, description="Flash SMS (aoc only).")
    unicode: Literal["auto"] | bool = Field(
        default="auto", description="auto: UCS-2 only when the text needs it."
    )
    check_opt_out: bool = Field(
        default=True,
        description="Marketing only: validate warns when the body has none of the opt-out "
        "phrases (defaults.opt_out.phrases); false turns the warning off for this template.",
    )
    quiet_hours: QuietHours | None = Field(
        default=None,
        description="On-demand sends only (the API, `smsops send`): refused between `start` "
        "and `end` in the number's local time. Schedules keep their own `quiet_hours`.",
    )
    otp: OtpPolicy | None = Field(
        default=None,
        description="Category `otp` only: code length, expiry, attempts and sends per number "
        "(each has a default; docs/otp.md).",
    )

    @model_validator(mode="after")
    def _otp_policy_for_otp(self) -> Template:
        if self.otp is not None and self.category != "otp":
            raise ValueError(
                f"`otp` (a one-time code policy) is for templates of category otp, not "
                f"{self.category}: remove it or write category: otp"
            )
        return self

    @property
    def otp_policy(self) -> OtpPolicy:
        """This template's code policy (the defaults where it writes none)."""
        return self.otp or DEFAULT_POLICY


class Contact(_Model):
    """An inline contact: a phone number plus any variables."""

    model_config = ConfigDict(extra="allow")

    phone: NumberText

    def variables(self) -> dict[str, Scalar]:
        return dict(self.model_extra or {})


class Audience(_Model):
    source: str | None = Field(default=None, description="CSV file, relative to this YAML file.")
    phone_column: str = "phone"
    default_region: str | None = Field(
        default=None, description="ISO region (GB, US...) used to read national-format numbers."
    )
    timezone_column: str | None = Field(
        default=None, description="Column with each contact's IANA time zone."
    )
    encoding: str = Field(default="utf-8", description="The CSV file's text encoding.")
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    contacts: list[Contact] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list, description="Audiences to subtract.")

    # The YAML file that defined the audience: `source` is relative to its folder.
    _defined_in: Path = PrivateAttr(default=Path("."))
    # The directory `source` must resolve into (the config's), set by the loader.
    _confined_to: Path | None = PrivateAttr(default=None)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        # A file name cannot hold a NUL; the value is not quoted (it may hide anything).
        if value is not None and "\0" in value:
            raise ValueError("a file name cannot hold a NUL byte (\\0); name the CSV file only")
        return value

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from smsops.core.phone import region_code  # heavy; only when a region is given

        return region_code(value)

    @model_validator(mode="after")
    def _has_members(self) -> Audience:
        if self.source is None and not self.contacts:
            raise ValueError("an audience needs a `source` CSV file, inline `contacts`, or both")
        return self

    def source_path(self) -> Path | None:
        return None if self.source is None else self._defined_in.parent / self.source

    def source_root(self) -> Path:
        """The directory the source file must resolve into (see `smsops.core.files`)."""
        return self._confined_to or self._defined_in.resolve().parent


# What `datetime.fromisoformat` reads: a date, or a date-time, local or with an offset.
ISO_DATETIME_PATTERN = (
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$"
)


def _iso_datetime(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a date-time; write ISO 8601, e.g. 2027-03-01T09:00:00"
            ) from None
    if isinstance(value, datetime) and not YEARS[0] <= value.year <= YEARS[1]:
        raise ValueError(
            f"year {value.year} is out of range: write a date-time from {YEARS[0]} to {YEARS[1]}"
        )
    return value


# Local date-times (no offset) are the common case, so the schema gives a
# pattern instead of `format: date-time`, which requires an offset (RFC 3339).
IsoDateTime = Annotated[
    datetime,
    BeforeValidator(_iso_datetime),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": ISO_DATETIME_PATTERN,
            "description": "ISO 8601, local to the trigger's zone unless it has an offset",
            "examples": ["2027-03-01T09:00:00", "2027-03-01T09:00:00+01:00"],
        }
    ),
]


class Trigger(_Model):
    """When a schedule fires: exactly one of `cron`, `every`, `at`."""

    # Checked with fire times (smsops.schedule.checks): the config layer knows no cron.
    cron: str | None = Field(
        default=None,
        description="Five-field Vixie crontab, e.g. 0 9 * * MON-FRI, or @daily, @hourly...",
    )
    every: Interval | None = None
    start: IsoDateTime | None = Field(
        default=None, description="Anchor of `every` (default: midnight 2000-01-01)."
    )
    at: IsoDateTime | None = Field(
        default=None,
        description="A date-time (ISO 8601), local to `timezone` unless it has an offset.",
    )
    timezone: str = Field(default="UTC", description="IANA zone, or `recipient`.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value != RECIPIENT_TIMEZONE:
            zone_info(value)
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Trigger:
        given = [name for name in ("cron", "every", "at") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "a trigger needs exactly one of cron, every, at"
                + (f" (got {', '.join(given)})" if given else "")
                + "; leave `trigger` out to send once"
            )
        if self.start is not None and self.every is None:
            raise ValueError("`start` anchors `every`; it has no meaning with cron or at")
        return self


# Files in the zone database that are not zones a config may mean: the host's
# own zone (the same config would fire at other times on another machine),
# the "unset" placeholder and a build artefact.
NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})


@cache
def zone_info(name: str) -> ZoneInfo:
    try:
        if name in NOT_ZONES:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/London or UTC"
        ) from None


MARKETING_QUIET_HOURS = QuietHours(start=time(21, 0), end=time(8, 0))


class Limits(_Model):
    """Guardrails: a plan of a schedule over any of them needs `apply --approve SCHEDULE`;
    `run` holds the schedule. Unset (or null): no limit of that kind."""

    max_recipients: Count | None = Field(
        default=None, ge=0, description="Messages one plan of the schedule sends (its due sends)."
    )
    max_segments: Count | None = Field(
        default=None, ge=0, description="Segments of the messages one plan sends."
    )
    max_cost: Amount | None = Field(
        default=None,
        description="Estimated cost of one plan's sends, in the currency of the first "
        "provider's price_per_segment (which it needs).",
    )
    max_per_day: Count | None = Field(
        default=None,
        ge=0,
        description="Messages in any 24 hours: ledger rows claimed in the 24 hours before "
        "the plan's time that may have gone out, plus the plan's sends.",
    )

    def over(self, defaults: Limits) -> Limits:
        """These limits over `defaults`: each kind written here (null included) wins."""
        return defaults.model_copy(update={k: getattr(self, k) for k in self.model_fields_set})


class Schedule(_Model):
    template: str
    audience: str
    provider: str | list[str] = Field(description="A provider, or a failover list.")
    vars: dict[str, Scalar] = Field(default_factory=dict)
    trigger: Trigger | None = Field(default=None, description="Leave out to send once.")
    window: Window | None = Field(
        default=None, description="How long after a fire time a send may still go (default 1h)."
    )
    quiet_hours: QuietHours | None = None
    enabled: bool = True
    limits: Limits | None = Field(
        default=None, description="Guardrails; each kind set here overrides defaults.limits."
    )
    respect_opt_out: bool = Field(
        default=False,
        description="Skip numbers on the ledger's suppression list (STOP) for this schedule's "
        "template whatever its category; marketing templates always skip them.",
    )
    shards: Count | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="How many shards several `smsops run` replicas on a PostgreSQL ledger split "
        "each due occurrence into, each planned and sent by the replica that takes it (default: "
        "one per 2,000 audience rows, 1 to 64; docs/scale-out.md). SQLite ignores it.",
    )

    @field_validator("provider")
    @classmethod
    def _providers(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list):
            if not value:
                raise ValueError("give at least one provider")
            if len(set(value)) != len(value):
                raise ValueError("a provider is listed twice in the failover list")
        return value

    @field_validator("window")
    @classmethod
    def _window_needs_trigger(cls, value: timedelta | None, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("trigger") is None and "trigger" in info.data:
            raise ValueError(
                "`window` needs a `trigger`: a schedule without one is sent once, with no window"
            )
        return value

    def quiet_hours_for(self, template: Template) -> QuietHours | None:
        """The schedule's quiet hours; marketing gets 21:00-08:00 unless the schedule says
        otherwise (`quiet_hours: null` turns them off)."""
        if "quiet_hours" in self.model_fields_set or template.category != "marketing":
            return self.quiet_hours
        return MARKETING_QUIET_HOURS

    @property
    def providers(self) -> list[str]:
        return [self.provider] if isinstance(self.provider, str) else list(self.provider)

    @property
    def effective_window(self) -> timedelta | None:
        if self.trigger is None:
            return None
        return self.window or DEFAULT_WINDOW


class Defaults(_Model):
    """Config-wide defaults (the `defaults` section; each key once across the files)."""

    # built when first used (pydantic's defer_build): a config without this section never builds it
    model_config = ConfigDict(defer_build=True)

    limits: Limits = Field(default_factory=Limits, description="Every schedule's guardrails.")
    opt_out: OptOut = Field(
        default_factory=OptOut, description="The opt-out check of marketing templates."
    )


class Api(_Model):
    """The API of `smsops run` (docs/api.md): on when this map is written, off without it."""

    # built when first used (pydantic's defer_build): a config without this section never builds it
    model_config = ConfigDict(defer_build=True)

    token: SecretRef = Field(
        description="The bearer token callers send as `Authorization: Bearer ...`."
    )
    providers: list[str] | None = Field(
        default=None,
        min_length=1,
        description="The failover list of a request that names no `provider` (default: the "
        "config's only provider; with several, a request must name one).",
    )

    @field_validator("providers")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("a provider is listed twice in the failover list")
        return value


class StatusAccess(_Model):
    """Who may read the status view of `smsops run`, `GET /status.json` (docs/operations.md)
    and its page `GET /` (docs/status-page.md): off without this map; with it, either the
    bearer `token` (which the page's login form also takes) or `public: true`."""

    # built when first used (pydantic's defer_build): a config without this section never builds it
    model_config = ConfigDict(defer_build=True)

    token: SecretRef | None = Field(
        default=None,
        description="The bearer token readers send as `Authorization: Bearer ...`.",
    )
    public: bool = Field(
        default=False,
        description="`true`: anyone who reaches the port may read it, with no token.",
    )

    @model_validator(mode="after")
    def _one_way_in(self) -> StatusAccess:
        if self.token is not None and self.public:
            raise ValueError("give either `token` or `public: true`, not both")
        if self.token is None and not self.public:
            raise ValueError(
                "give `token: ${env:NAME}` (readers send it as a bearer token) or `public: true`;"
                " leave the map out to keep the status view off"
            )
        return self


def _network(value: str) -> str:
    import ipaddress  # only a config with a `server` map pays for it

    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an IP address or network: write one like 10.0.0.7 or 10.0.0.0/8"
        ) from None
    return value


_HOST_NAME = (
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$"
)


def _host_name(value: str) -> str:
    import ipaddress
    import re

    if not isinstance(value, str):
        raise ValueError("write a host name, e.g. status.example.com")
    name = value.strip().lower()
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        pass
    else:
        raise ValueError(f"{value!r}: IP addresses are always allowed; list host names only")
    if not re.match(_HOST_NAME, name):
        raise ValueError(
            f"{value!r} is not a host name: write a host name alone, as browsers send it "
            "(status.example.com: no scheme, port, path or wildcard)"
        )
    return name.rstrip(".")


class Server(_Model):
    """How `smsops run`'s HTTP port is reached (docs/security.md#the-run-servers-authentication):
    the names it answers to and the proxies in front of it. `--listen` says where it listens."""

    hosts: list[Annotated[str, BeforeValidator(_host_name)]] = Field(
        default_factory=list,
        max_length=100,
        description="Host names the status page, its login and the API answer to, besides IP "
        "addresses and `localhost` (always): a request naming any other `Host` gets 421 "
        "(DNS rebinding). List the name people and scripts use, e.g. `status.example.com`.",
    )

    trusted_proxies: list[Annotated[str, BeforeValidator(_network)]] = Field(
        default_factory=list,
        max_length=100,
        description="Addresses or networks (`10.0.0.0/8`) of the reverse proxies in front of "
        "`smsops run`: only a request from one of them has its `X-Forwarded-For` read, to "
        "find the client the failed-login limit counts. Leave it out without a proxy.",
    )


class ConfigSections(_Model):
    """The sections of one YAML file besides `providers` (whose models are registered)."""

    # the JSON Schema's (schema.py): built when a schema is asked for, never by validate
    model_config = ConfigDict(defer_build=True)

    api: Api | None = Field(default=None, description="The API (docs/api.md); leave out: off.")
    status: StatusAccess | None = Field(
        default=None, description="The status view (docs/operations.md); leave out: off."
    )
    server: Server | None = Field(
        default=None, description="How the run server is reached (docs/security.md)."
    )
    defaults: Defaults = Field(default_factory=Defaults)
    otp: OtpSettings = Field(default_factory=OtpSettings)
    templates: dict[str, Template] = Field(default_factory=dict)
    audiences: dict[str, Audience] = Field(default_factory=dict)
    schedules: dict[str, Schedule] = Field(default_factory=dict)
