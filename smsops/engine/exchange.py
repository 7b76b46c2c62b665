"""One request and its answer: whatever happens is its result (`exchange_heard`).

The one guard of the send path, shared by the sender (`engine.apply`) and the
requests that check a one-time code (`engine.otp`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import httpx

from smsops.engine.reach import ANSWERED, Heard, unreachable
from smsops.providers.base import (
    Adapter,
    Message,
    Rejected,
    Result,
    Uncertain,
    from_outside,
    transport_error,
)


async def exchange(
    http: httpx.AsyncBaseTransport,
    adapter: Adapter,
    build: Callable[[], httpx.Request],
    messages: Sequence[Message],
    timeout: Mapping[str, float | None],
) -> list[Result]:
    """`exchange_heard`'s results."""
    return (await exchange_heard(http, adapter, build, messages, timeout))[0]


async def exchange_heard(
    http: httpx.AsyncBaseTransport,
    adapter: Adapter,
    build: Callable[[], httpx.Request],
    messages: Sequence[Message],
    timeout: Mapping[str, float | None],
) -> tuple[list[Result], Heard]:
    """Build one request, send it and read its answer: whatever happens is its result;
    with whether the provider answered it, or why it could not be reached (`reach`).

    The one guard of the send path (sends, and the requests that check a
    one-time code). An exception while building means nothing left:
    rejected (`failed`; it may fail over). From the exchange or the reading
    of its answer, the request may have left: uncertain. Either way the
    other units and providers go on (issue 19: a hostile answer used to end
    the whole round, its claimed rows left `pending`).
    """
    count = len(messages)
    try:
        request = build()
    except Exception as exc:  # e.g. a secret whose value holds a line break (Adapter.post)
        why = f"cannot build the request: {_described(exc)}"
        return [from_outside(Rejected(why))] * count, None
    request.extensions = {**request.extensions, "timeout": timeout}
    try:
        response = await http.handle_async_request(request)
        response.request = request
        await response.aread()
    except httpx.TransportError as exc:
        return [transport_error(exc)] * count, unreachable(exc)
    except Exception as exc:
        why = f"the request may have been received: sending it raised {_described(exc)}"
        return [from_outside(Uncertain(why))] * count, None
    try:  # an answer, whatever it says: the provider is reachable
        return adapter.parse(response, messages), ANSWERED  # scrubbed of secrets (from_outside)
    except Exception as exc:  # the contract says parse never raises; a bug must not stop a round
        why = f"HTTP {response.status_code}, the answer could not be read: {_described(exc)}"
        return [from_outside(Uncertain(why))] * count, ANSWERED


def _described(exc: BaseException) -> str:
    """An exception as a reason: its text (the type's name when it has none) and its type."""
    text = str(exc)
    return f"{text} ({type(exc).__name__})" if text else type(exc).__name__
