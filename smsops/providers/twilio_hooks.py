"""Twilio's webhooks: status callbacks and inbound messages, signed in X-Twilio-Signature.

Both are `application/x-www-form-urlencoded` POSTs. A status callback
carries `MessageSid`, `MessageStatus` and, when it failed, `ErrorCode`; an
inbound message `From`, `To`, `Body`. Twilio signs each with the account's
auth token: HMAC-SHA1 over the full URL it requested followed by every POST
parameter, sorted by name, as name+value, base64 (`twilio_signature`; its
test checks it against Twilio's own `RequestValidator`).

The URL is the one the operator configured (`status_callback`,
`inbound_url`), never one rebuilt from the request: behind a proxy or a load
balancer the Host, scheme and port the server sees are not what Twilio
called, and a Host header is the caller's to choose.

The sandbox's Twilio emulator writes them here too (`status_callbacks`,
`incoming_message`), signed as this checks them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit

from smsops.core.errors import HookRefused
from smsops.core.hooks import Delivery, Inbound, Receipt
from smsops.core.secrets import token_matches
from smsops.providers.emulation import Incoming, Post, Sent
from smsops.providers.hook_fields import (
    address,
    error_text,
    inbound_text,
    malformed,
    message_id,
    sender,
)

MAX_FORM_FIELDS = 200  # an inbound MMS carries ~40 (MediaUrl0..9, FromCity, ...)
# Every MessageStatus Twilio documents, by what it says about delivery.
STATUSES = {
    **dict.fromkeys(
        ("accepted", "scheduled", "queued", "sending", "sent", "receiving", "received"),
        Delivery.INTERIM,
    ),
    "partially_delivered": Delivery.INTERIM,
    "delivered": Delivery.DELIVERED,
    "read": Delivery.DELIVERED,
    "undelivered": Delivery.UNDELIVERED,
    "failed": Delivery.UNDELIVERED,
    "canceled": Delivery.UNDELIVERED,
}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def twilio_signature(url: str, params: Iterable[tuple[str, str]], token: str) -> str:
    """X-Twilio-Signature of a POST of `params` to `url`, signed with the auth `token`.

    As Twilio's RequestValidator computes it: each name once in sorted order,
    each of its distinct values in sorted order, appended to the URL.
    """
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    signed = url + "".join(
        name + value for name in sorted(values) for value in sorted(values[name])
    )
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _as_twilio_may_sign(url: str) -> list[str]:
    """The URL as configured, and as Twilio's validator also takes it: re-joined (an empty
    `?` dropped), with its port left out, and with the scheme's default port written."""
    parts = urlsplit(url)
    if not parts.port:
        port = _DEFAULT_PORTS.get(parts.scheme, 80)
        return [url, parts.geturl(), parts._replace(netloc=f"{parts.netloc}:{port}").geturl()]
    bare = parts._replace(netloc=parts.netloc.rpartition(":")[0])
    return [url, parts.geturl(), bare.geturl()]


def form(body: bytes) -> list[tuple[str, str]]:
    """The POST parameters, in order (a name may repeat): UTF-8, at most MAX_FORM_FIELDS."""
    try:
        text = body.decode("utf-8")
        return parse_qsl(
            text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS, errors="strict"
        )
    except UnicodeDecodeError:
        raise malformed("the form is not UTF-8") from None
    except ValueError:
        raise malformed(f"the form has more than {MAX_FORM_FIELDS} fields") from None


def check_signature(url: str, params: list[tuple[str, str]], token: str, given: str | None) -> None:
    """A 401 unless `given` is Twilio's signature of `params` posted to `url`."""
    if not given:
        raise HookRefused(401, "X-Twilio-Signature is missing")
    for variant in _as_twilio_may_sign(url):
        expected = twilio_signature(variant, params, token)
        if token_matches(expected, given.strip()):
            return
    raise HookRefused(401, "X-Twilio-Signature does not match this provider's URL and auth token")


def _one(params: list[tuple[str, str]], name: str) -> str | None:
    found = [value for key, value in params if key == name]
    if len(found) > 1:
        raise malformed(f"{name} is given more than once")
    return found[0] if found else None


def receipt(provider: str, params: list[tuple[str, str]]) -> Receipt:
    status = (_one(params, "MessageStatus") or "").strip().lower()
    delivery = STATUSES.get(status)
    if delivery is None:
        raise malformed("MessageStatus is missing or not one Twilio documents")
    return Receipt(
        provider,
        message_id(_one(params, "MessageSid"), "MessageSid"),
        delivery,
        status,
        error_text(_one(params, "ErrorCode")),
    )


def inbound(provider: str, params: list[tuple[str, str]]) -> Inbound:
    return Inbound(
        provider,
        sender(_one(params, "From"), "From"),
        address(_one(params, "To"), "To"),
        inbound_text(_one(params, "Body"), "Body"),
    )


SANDBOX_ACCOUNT = "AC" + "0" * 32  # the account an injected text arrives at
UNREACHABLE = "30003"  # Twilio's "Unreachable destination handset"


def _signed(url: str, params: dict[str, str], secret: str | None) -> Post:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if secret is not None:
        headers["x-twilio-signature"] = twilio_signature(url, params.items(), secret)
    return Post(url, urlencode(params).encode(), headers)


def status_callbacks(sent: Sent, delivered: bool, interim: bool) -> list[Post]:
    """`sent` (when `interim`), then `delivered` or `undelivered` (ErrorCode 30003),
    form-encoded to the send's StatusCallback, signed with the account's auth token."""
    assert sent.url is not None
    statuses = ["sent"] if interim else []
    statuses.append("delivered" if delivered else "undelivered")
    posts = []
    for status in statuses:
        params = {"MessageSid": sent.message_id, "SmsSid": sent.message_id}
        params |= {"AccountSid": sent.account, "From": sent.sender, "To": sent.recipient}
        params |= {"MessageStatus": status, "SmsStatus": status, "ApiVersion": "2010-04-01"}
        if status == "undelivered":
            params["ErrorCode"] = UNREACHABLE
        posts.append(_signed(sent.url, params, sent.secret))
    return posts


def incoming_message(text: Incoming, url: str, secret: str | None) -> Post:
    """An incoming message as Twilio posts it to the number's webhook, signed."""
    sid = "SM" + uuid.uuid4().hex
    params = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid}
    params |= {"AccountSid": SANDBOX_ACCOUNT, "From": text.sender, "To": text.to}
    params |= {"Body": text.text, "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received"}
    return _signed(url, params | {"ApiVersion": "2010-04-01"}, secret)
