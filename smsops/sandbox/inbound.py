"""`POST /_sandbox/inbound` and `PUT /_sandbox/callbacks`: bodies read bounded and checked.

Anyone on the machine can post to the sandbox: a body is read in the chunks
it arrives in up to MAX_BODY bytes (refused beyond, before reading when its
Content-Length says so), must be a JSON object, and an inbound text must be
what a phone could send: an E.164 sender, a short printable `to`, at most
MAX_INBOUND_TEXT characters with no control characters but line breaks and
tabs. A refusal names the field, never its value.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request

from smsops.core.hooks import MAX_INBOUND_TEXT
from smsops.providers.emulation import E164, Incoming

MAX_BODY = 16 * 1024  # bytes: a text of MAX_INBOUND_TEXT characters, escaped, fits
# bytes of PUT /_sandbox/faults: its raw_body carries the hostile answers tests need (a
# body nested 100,000 deep is 200 KB)
MAX_FAULTS_BODY = 1024 * 1024
MAX_TO = 32
FIELDS = {"from", "to", "text", "provider"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


class BadBody(ValueError):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


async def json_body(request: Request, limit: int = MAX_BODY) -> Any:
    """The body as JSON, at most `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BadBody(413, f"bodies are at most {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadBody(413, f"bodies are at most {limit} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd nesting
        raise BadBody(400, "the body must be JSON") from None


def text(body: Any) -> tuple[str, Incoming]:
    """(the target's name, the text) of an inbound request's JSON body."""
    if not isinstance(body, dict):
        raise BadBody(400, 'the body must be a JSON object: {"from", "to", "text", "provider"}')
    missing, unknown = FIELDS - set(body), set(body) - FIELDS
    if missing or unknown:
        which = sorted(missing) or sorted(unknown)
        kind = "missing" if missing else "unknown"
        raise BadBody(400, f"{kind} field {which[0]!r}; give from, to, text and provider")
    for name in FIELDS:
        if not isinstance(body[name], str):
            raise BadBody(400, f"{name} must be a string")
    if not (body["from"].isascii() and E164.fullmatch(body["from"])):
        raise BadBody(400, "from must be an E.164 number (+ and 7 to 15 digits)")
    to = body["to"]
    if not 0 < len(to) <= MAX_TO or not to.isprintable() or not to.strip():
        raise BadBody(400, f"to must be 1 to {MAX_TO} printable characters")
    message = body["text"]
    if len(message) > MAX_INBOUND_TEXT or _CONTROL.search(message):
        raise BadBody(
            400, f"text must be at most {MAX_INBOUND_TEXT} characters, no control characters"
        )
    provider = body["provider"]
    if not 0 < len(provider) <= 64 or not provider.isprintable():
        raise BadBody(400, "provider must name a target (1 to 64 printable characters)")
    return provider, Incoming(body["from"], to, message)
