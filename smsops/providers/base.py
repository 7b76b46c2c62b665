"""What every provider adapter shares: the message in, the result out, no I/O.

An adapter turns messages into one `httpx.Request` and an `httpx.Response`
(or a transport error) into one `Result` per message. The engine owns the
client, rate limits and retries; the adapter only speaks the wire format.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_type_hints

from smsops.config.providers import Capabilities, Category, ProviderBase
from smsops.core import envref, secrets
from smsops.core.errors import ProviderUnusable
from smsops.core.skips import SkipReason

if TYPE_CHECKING:  # httpx costs ~0.1 s to import; `validate` never needs it
    import httpx


@dataclass(frozen=True)
class Message:
    """One rendered SMS for one recipient, ready for a provider."""

    recipient: str  # E.164, e.g. +447400123456
    text: str
    category: Category = "transactional"
    ucs2: bool = False  # the text needs UCS-2 (decided by the encoder)
    flash: bool = False
    template_id: str | None = None
    custom: tuple[str, ...] = ()  # provider template values, in `variables` order
    region: str | None = None  # ISO region of the recipient, e.g. US


@dataclass(frozen=True)
class Accepted:
    """The provider took the message; `message_id` when the provider gives one."""

    message_id: str | None
    kind: Literal["accepted"] = "accepted"


@dataclass(frozen=True)
class Rejected:
    """The provider certainly did not take it and will not: do not retry."""

    reason: str
    code: str | None = None
    kind: Literal["rejected"] = "rejected"


@dataclass(frozen=True)
class Retryable:
    """The provider certainly did not take it, but may later (429, 503, no connection)."""

    reason: str
    retry_after: float | None = None
    kind: Literal["retryable"] = "retryable"


@dataclass(frozen=True)
class Uncertain:
    """The request may have been received: never resend without being asked."""

    reason: str
    kind: Literal["uncertain"] = "uncertain"


Result = Accepted | Rejected | Retryable | Uncertain


@dataclass(frozen=True)
class Adapter:
    """Base of every adapter: resolve secrets, encode bodies, classify HTTP outcomes."""

    name: str
    config: ProviderBase
    env: Mapping[str, str] = field(repr=False, default_factory=dict)
    # Lower-case names of the headers that carry secrets: `redacted` shows them as ***.
    secret_headers: ClassVar[frozenset[str]] = frozenset()
    # How `post` encodes a body: a JSON object, or an x-www-form-urlencoded form.
    body_encoding: ClassVar[Literal["json", "form"]] = "json"

    @classmethod
    def config_model(cls) -> type[ProviderBase]:
        """This provider type's config model: what the subclass annotates `config` with."""
        model: type[ProviderBase] = get_type_hints(cls)["config"]
        return model

    @property
    def capabilities(self) -> Capabilities:
        return self.config.capabilities

    @property
    def batch_size(self) -> int:
        """How many identical messages one request may carry (bulk providers override)."""
        return 1

    def skip_reason(self, region: str | None) -> tuple[SkipReason, str] | None:
        """Why no number of `region` can be sent through this provider, before any request.

        It depends on the region alone, so a plan asks once per region, not per recipient.
        """
        return None

    def build(self, messages: Sequence[Message]) -> httpx.Request:
        raise NotImplementedError

    def parse(self, response: httpx.Response, messages: Sequence[Message]) -> list[Result]:
        """One result per message; never raises for a malformed response.

        Where outside text enters: every result leaves scrubbed of secrets
        (`from_outside`), so no caller can forget to.
        """
        return [from_outside(result) for result in self._parse(response, messages)]

    def _parse(self, response: httpx.Response, messages: Sequence[Message]) -> list[Result]:
        early = classify_status(response)
        if early is not None:
            return [early] * len(messages)
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return [unreadable(response)] * len(messages)
        if not isinstance(body, dict):
            return [unreadable(response)] * len(messages)
        return self.parse_body(response, body, messages)

    def parse_body(
        self, response: httpx.Response, body: dict[str, Any], messages: Sequence[Message]
    ) -> list[Result]:
        raise NotImplementedError

    def secret(self, value: str) -> str:
        return envref.resolve(value, self.env, self.name)

    def url(self, path: str = "") -> str:
        return self.secret(self.config.base_url) + path

    def post(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> httpx.Request:
        import httpx  # see TYPE_CHECKING above

        url = self.url(path)
        try:
            parsed = _parsed(url)
            if parsed.port is not None and not 0 < parsed.port < 65536:
                raise httpx.InvalidURL(f"port {parsed.port} is out of range")
            if parsed.scheme not in ("http", "https") or not parsed.host:
                raise httpx.InvalidURL("it is not an absolute http(s) URL")
            if parsed.userinfo:
                raise httpx.InvalidURL("it holds a user or password")
        except httpx.InvalidURL as exc:
            # Only a ${env:} reference can get here (validate checks literal URLs);
            # its value may be in the reason, so the text is scrubbed.
            raise ProviderUnusable(
                f"provider {self.name!r}: its base_url is not a valid URL once its "
                f"${{env:...}} references are filled in ({secrets.scrub(str(exc))}); "
                "fix the variable's value"
            ) from None
        if self.body_encoding == "form":
            return httpx.Request("POST", parsed, headers=headers, data=body)
        return httpx.Request("POST", parsed, headers=headers, json=body)


@cache
def _parsed(url: str) -> httpx.URL:
    """A URL parsed once: parsing it again per request was half the cost of a request's build."""
    import httpx

    return httpx.URL(url)


def classify_status(response: httpx.Response) -> Result | None:
    """429 and 503 are retryable whatever the body says (honouring Retry-After)."""
    if response.status_code in (429, 503):
        return Retryable(
            f"HTTP {response.status_code} from the provider",
            retry_after=retry_after(response.headers.get("retry-after")),
        )
    return None


def unreadable(response: httpx.Response) -> Result:
    """A body we cannot read: 2xx and 5xx may have been accepted, 4xx were not.

    Scrubbed before it is cut: a cut through a secret would leave its start.
    """
    snippet = " ".join(secrets.scrub(response.text[:4096]).split())[:120] or "an empty body"
    detail = f"HTTP {response.status_code} with an unreadable response ({snippet})"
    if 400 <= response.status_code < 500:
        return Rejected(detail, code=str(response.status_code))
    return Uncertain(detail)


def from_outside(result: Result) -> Result:
    """`result` with every text the provider (or a proxy) wrote scrubbed of secrets.

    Reasons, codes and message ids all came over the wire, so any of them may
    echo the request; this is applied to every result before anything reads it.
    A reason also becomes one line of at most `REASON_LIMIT` characters (cut
    only after scrubbing: a cut through a secret would leave its start).
    """
    if isinstance(result, Accepted):
        if result.message_id is None:
            return result
        return Accepted(message_id=_outside_text(result.message_id))
    if isinstance(result, Rejected):
        code = _outside_text(result.code) if result.code is not None else None
        return Rejected(_outside_text(result.reason), code=code)
    if isinstance(result, Retryable):
        return Retryable(_outside_text(result.reason), retry_after=result.retry_after)
    return Uncertain(_outside_text(result.reason))


REASON_LIMIT = 1000


def _outside_text(text: str) -> str:
    line = " ".join(secrets.scrub(text).split())
    return line if len(line) <= REASON_LIMIT else line[: REASON_LIMIT - 3] + "..."


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def transport_error(error: httpx.TransportError) -> Result:
    """Connect failures never reached the provider; anything later might have."""
    import httpx  # see TYPE_CHECKING above

    # only the type's name is quoted: an aiohttp message may carry the URL (see from_outside)
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Retryable(f"could not connect: {type(error).__name__}")
    return Uncertain(f"the request may have been received: {type(error).__name__}")


def digits(e164: str) -> str:
    return e164.removeprefix("+")
