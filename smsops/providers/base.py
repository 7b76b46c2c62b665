"""What every provider adapter shares: the message in, the result out, no I/O.

An adapter turns messages into one `httpx.Request` and an `httpx.Response`
(or a transport error) into one `Result` per message. The engine owns the
client, rate limits and retries; the adapter only speaks the wire format.
"""

from __future__ import annotations

import codecs
import json
import math
import re
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
    # How a provider template is sent (AOC, seed 003): `custom`, its values in
    # `variables` order; or `text`, the rendered text beside the template id.
    template_form: Literal["custom", "text"] = "custom"
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
    # The provider answered 429/503: it asked us to slow down (not a lost connection).
    # Counted as a rate-limit wait by the status page (daemon/provider_window.py); not
    # part of what the result is (equality), only of how it came.
    throttled: bool = field(default=False, compare=False)
    kind: Literal["retryable"] = "retryable"


@dataclass(frozen=True)
class Uncertain:
    """The request may have been received: never resend without being asked."""

    reason: str
    kind: Literal["uncertain"] = "uncertain"


Result = Accepted | Rejected | Retryable | Uncertain


@dataclass(frozen=True)
class Documented:
    """A rejection as the provider's docs print it: a sample body and the statuses it comes with.

    The adapter's `refused` recognises its shape; the conformance suite replays
    each sample under each status (rejected), under a 5xx (uncertain: a server
    error may still have taken the request) and under a 2xx it is not
    documented with (uncertain). Only a 2xx or a 4xx can be a rejection.
    """

    statuses: tuple[int, ...]
    body: Mapping[str, Any]


# The longest Retry-After read from an answer (a day): a run waits at most
# `ApplyOptions.backoff_cap` (30 s) anyway, and a bound keeps `inf` or 10^12
# seconds out of the time arithmetic (they overflowed it).
RETRY_AFTER_CAP = 86400.0
# A provider's answer is a small JSON object; deeper nesting is refused before
# parsing (Python's parser recurses: 100,000 levels raised RecursionError).
MAX_JSON_DEPTH = 64
MAX_JSON_BYTES = 1024 * 1024


# `Adapter._parse` in words, one row per kind of answer: (answer, outcome, the
# row's status, fails over?). The provider reference (docs/providers.md) prints
# it; it sits beside the code it describes so that a change to one shows the other.
ANSWER_RULE: tuple[tuple[str, str, str, str], ...] = (
    (
        "a success answer the provider documents (a 2xx its `accepted` reads)",
        "accepted",
        "`sent`",
        "no",
    ),
    (
        "a rejection the provider documents (its `rejections`), or any 4xx but 429",
        "rejected",
        "`failed`",
        "yes",
    ),
    (
        "429, or 503 to a request of one message",
        "retryable: retried (5 attempts, backoff, never sooner than `Retry-After`)",
        "`failed` (retryable) once out of retries",
        "yes, once out of retries",
    ),
    (
        "503 to a bulk request (`partly_processed`: part of it may be queued)",
        "uncertain",
        "`uncertain`",
        "no",
    ),
    (
        "any other 5xx (500, 502, 504, ...), whatever its body says",
        "uncertain",
        "`uncertain`",
        "no",
    ),
    (
        'a 2xx that cannot be read as success (`{"success": "true"}`, a gateway\'s '
        '`{"message": "Endpoint request timed out"}`, an empty or non-JSON body)',
        "uncertain",
        "`uncertain`",
        "no",
    ),
    ("a 1xx or 3xx (redirects are never followed)", "uncertain", "`uncertain`", "no"),
    (
        "no answer: could not connect",
        "retryable",
        "`failed` (retryable) once out of retries",
        "yes, once out of retries",
    ),
    (
        "no answer after the request may have left (a timeout, a dropped connection)",
        "uncertain",
        "`uncertain`",
        "no",
    ),
)


@dataclass(frozen=True)
class Adapter:
    """Base of every adapter: resolve secrets, encode bodies, classify HTTP outcomes."""

    name: str
    config: ProviderBase
    env: Mapping[str, str] = field(repr=False, default_factory=dict)
    # Lower-case names of the headers that carry secrets: `redacted` shows them as ***.
    secret_headers: ClassVar[frozenset[str]] = frozenset()
    # Names of the body fields (JSON keys at any depth, form fields) and URL query
    # parameters that carry secrets: `redacted` shows them as *** too.
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    # The rejections the provider's docs print: the only answers `parse` calls
    # rejected (a 4xx is one whatever its body; see `_parse`).
    rejections: ClassVar[tuple[Documented, ...]] = ()
    # How `post` encodes a body: a JSON object, or an x-www-form-urlencoded form.
    body_encoding: ClassVar[Literal["json", "form"]] = "json"
    # The provider makes and checks one-time codes itself (`verify_otp`); else smsops
    # makes them and renders them into the template as `{{ code }}` (engine/otp.py).
    makes_otp_codes: ClassVar[bool] = False

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

    def verify_otp(self, recipient: str, code: str) -> httpx.Request:
        """The request that asks the provider whether `code` is the one it sent (only where
        `makes_otp_codes`); its answer is read by `parse` like a send's."""
        raise NotImplementedError

    def parse(self, response: httpx.Response, messages: Sequence[Message]) -> list[Result]:
        """One result per message; never raises for a malformed response.

        Where outside text enters: every result leaves scrubbed of secrets
        (`from_outside`), so no caller can forget to.
        """
        return [from_outside(result) for result in self._parse(response, messages)]

    def _parse(self, response: httpx.Response, messages: Sequence[Message]) -> list[Result]:
        """The answer rule, for every provider: what may fail over is decided here only.

        Only an answer that says the provider did not take the request may
        fail over; one that may have been taken never does (that would send
        it twice). `ANSWER_RULE` says the same in words, for docs/providers.md.
        """
        status = response.status_code
        count = len(messages)
        if status in (429, 503) and not (status == 503 and self.partly_processed(messages)):
            wait = retry_after(response.headers.get("retry-after"))
            reason = f"HTTP {status} from the provider"
            return [Retryable(reason, retry_after=wait, throttled=True)] * count
        body = read_json(response)
        if 200 <= status < 300:
            if body is not None:
                read = self.accepted(response, body, messages)
                if read is not None and len(read) == count:
                    return list(read)
                if any(status in documented.statuses for documented in self.rejections):
                    refusal = self.refused(response, body)
                    if refusal is not None:
                        return [refusal] * count
            reason = f"HTTP {status} that cannot be read as success ({_gist(response)})"
            return [Uncertain(reason)] * count
        refusal = self.refused(response, body) if body is not None else None
        if 400 <= status < 500:
            return [
                refusal or Rejected(f"HTTP {status} ({_gist(response)})", code=str(status))
            ] * count
        detail = refusal.reason if refusal is not None else _gist(response)
        return [Uncertain(f"HTTP {status}, the request may have been taken: {detail}")] * count

    def accepted(
        self, response: httpx.Response, body: dict[str, Any], messages: Sequence[Message]
    ) -> Sequence[Accepted | Uncertain] | None:
        """One result per message from a 2xx JSON object, or None when it is no success answer."""
        raise NotImplementedError

    def refused(
        self, response: httpx.Response, body: dict[str, Any]
    ) -> Rejected | Retryable | None:
        """The provider's documented refusal read from `body` (see `rejections`), or None.

        Called for a 4xx, for a 2xx a rejection is documented with, and for a
        5xx only to word its (uncertain) reason.
        """
        return None

    def partly_processed(self, messages: Sequence[Message]) -> bool:
        """Whether a server error may have taken part of this request (a bulk one)."""
        return False

    def secret(self, value: str) -> str:
        return envref.resolve(value, self.env, self.name)

    def url(self, path: str = "") -> str:
        return envref.resolve_url(self.config.base_url, self.env, self.name) + path

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
        for name, value in headers.items():
            if _CONTROL.search(value):
                # aiohttp refuses it once connected; said here, before anything leaves,
                # naming the header only (its value is a secret)
                raise ValueError(
                    f"the value of the {name!r} header holds a line break or a control "
                    "character; check the variable it is read from"
                )
        if self.body_encoding == "form":
            return httpx.Request("POST", parsed, headers=headers, data=body)
        return json_request(parsed, headers, body)


def json_request(
    url: httpx.URL, headers: Mapping[str, str], body: Mapping[str, Any]
) -> httpx.Request:
    """`httpx.Request("POST", url, headers=headers, json=body)`, the same request built once.

    httpx makes its headers twice (the caller's, then all again with Host
    before them and the body's Content-Length and Content-Type after, each
    unless the caller gave it): a third of a request's build, per send. Here
    they are made once by the same rules, and the body encoded as httpx
    encodes JSON; compared with httpx's own build on generated bodies, headers
    and URLs (tests/providers/test_json_request.py), so an httpx that changes
    either is seen there.
    """
    import httpx

    encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    content = encoded.encode("utf-8")
    given = {name.lower() for name in headers}
    items = list(headers.items())
    if "content-length" not in given:
        items.append(("Content-Length", str(len(content))))
    if "content-type" not in given:
        items.append(("Content-Type", "application/json"))
    if "host" not in given and url.host:
        items.insert(0, ("Host", url.netloc.decode("ascii")))
    made = httpx.Headers(items)
    request = httpx.Request("POST", url, headers=made, stream=httpx.ByteStream(content))
    request.read()
    return request


@cache
def _parsed(url: str) -> httpx.URL:
    """A URL parsed once: parsing it again per request was half the cost of a request's build."""
    import httpx

    return httpx.URL(url)


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# A JSON body's nesting: its brackets once escapes and then strings are taken out.
_ESCAPES = re.compile(rb"\\.", re.S)
_STRINGS = re.compile(rb'"[^"]*"')
_BRACKETS = re.compile(rb"[\[\]{}]")


def read_json(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None; never raises (bounded in size and depth)."""
    content = response.content
    if len(content) > MAX_JSON_BYTES or too_deep(content):
        return None
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):  # bad JSON, bytes that are no UTF-8
        return None
    return body if isinstance(body, dict) else None


def too_deep(content: bytes) -> bool:
    """Whether JSON `content` nests deeper than MAX_JSON_DEPTH (brackets in strings ignored)."""
    if content.count(b"[") + content.count(b"{") <= MAX_JSON_DEPTH:
        return False
    bare = _STRINGS.sub(b"", _ESCAPES.sub(b"", content))
    depth = 0
    for match in _BRACKETS.finditer(bare):
        depth += 1 if match.group() in (b"[", b"{") else -1
        if depth > MAX_JSON_DEPTH:
            return True
    return False


def body_text(response: httpx.Response) -> str:
    """The body as text, whatever its Content-Type claims: a charset that is no text
    codec (`rot13`, `hex`, `bz2_codec`) or unknown is read as UTF-8, bad bytes replaced."""
    encoding = response.charset_encoding or "utf-8"
    try:
        if not codecs.lookup(encoding)._is_text_encoding:
            encoding = "utf-8"
    except LookupError:
        encoding = "utf-8"
    try:
        return response.content.decode(encoding, "replace")
    except (LookupError, TypeError, ValueError):
        return response.content.decode("utf-8", "replace")


def _gist(response: httpx.Response) -> str:
    """The body as one line for a reason (`from_outside` cuts it to REASON_LIMIT).

    Scrubbed before any cut: a cut through a secret would leave its start.
    """
    return " ".join(secrets.scrub(body_text(response)[:4096]).split()) or "an empty body"


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
        reason = _outside_text(result.reason)
        return Retryable(reason, retry_after=result.retry_after, throttled=result.throttled)
    return Uncertain(_outside_text(result.reason))


REASON_LIMIT = 1000


def _outside_text(text: str) -> str:
    line = " ".join(secrets.scrub(text).split())
    return line if len(line) <= REASON_LIMIT else line[: REASON_LIMIT - 3] + "..."


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), at most
    RETRY_AFTER_CAP; None when it says nothing readable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
            seconds = (when - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError, OverflowError):
            return None
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), RETRY_AFTER_CAP)


def transport_error(error: httpx.TransportError) -> Result:
    """Connect failures never reached the provider; anything later might have."""
    import httpx  # see TYPE_CHECKING above

    # only the type's name is quoted: an aiohttp message may carry the URL (see from_outside)
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Retryable(f"could not connect: {type(error).__name__}")
    return Uncertain(f"the request may have been received: {type(error).__name__}")


def digits(e164: str) -> str:
    return e164.removeprefix("+")
