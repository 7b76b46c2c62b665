"""`POST /hooks/{provider}/receipts|inbound`: what providers tell us after a send (issue 21).

Each request is authenticated before anything judges its type or reads its
body (a Twilio hook's signature covers the body, so that body is read,
bounded, first; nothing else of it is judged before), then read into
receipts or an inbound text (smsops.providers.hooks says how and in which
order) and handed to the service's `HookSink` (engine/hearing.py records
them in the ledger), off the event loop. A refused request never reaches
the sink: it gets its 4xx (or 503) and a one-line reason that quotes nothing
of the body, and the connection is closed (an unread body is not parsed as
a next request). Bodies are read in the chunks they arrive in and refused at
MAX_BODY bytes, before reading when Content-Length says so already.

A caller that shows a credential (a token, a signature) from an address
that was wrong too often gets 429 before it is compared (daemon/auth_limit.py).

Refusals are counted (`smsops_hooks_total`), never logged one by one: a
flood of bad requests must not become a flood of log lines. A sink that
raises is logged (masked) and answered 503, so the provider posts again.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from smsops.core.errors import HookRefused, Refused
from smsops.core.hooks import Inbound, ReceiptResult
from smsops.daemon.api import bearer
from smsops.daemon.auth_limit import Door, Limited
from smsops.daemon.bodies import bounded
from smsops.providers import hooks
from smsops.providers.hooks import MAX_BODY, TWIML_EMPTY, Caller, Hook, Kind

if TYPE_CHECKING:
    from smsops.daemon.service import Service

log = logging.getLogger("smsops.hooks")
UNKNOWN = "(unknown)"  # the provider label of a name the config lacks: labels stay bounded
OUTCOMES = {
    400: "malformed",
    401: "unauthorized",
    404: "not_found",
    413: "too_large",
    415: "unsupported_type",
    429: "limited",
    503: "unavailable",
}


async def hook(service: Service, request: Request, kind: Kind) -> Response:
    name = request.path_params["provider"]
    config = service.runner.config.providers.get(name)
    label = name if config is not None else UNKNOWN
    try:
        if service.hooks is None:
            raise HookRefused(503, "hooks are not configured")
        if config is None:
            raise HookRefused(404, "no provider of that name in the config")
        hooks.ready(name, config, kind)
        # Who is calling, before anything judges its type or reads its body (Twilio's
        # signature covers the body: that body is read, bounded, and judged only after).
        caller = _caller(request)
        door = Door(service, request, "hooks")
        door.admit()
        try:
            hooks.check_token(name, config, caller, service.runner.env)
            body = await bounded(request, MAX_BODY)
            hooks.check_signature(name, config, kind, body, caller, service.runner.env)
        except HookRefused as refused:
            if refused.status == 401 and (caller.token is not None or caller.signature):
                door.failed()  # a credential shown and wrong (none shown: not a guess)
            raise
        door.passed()
        hooks.check_media_type(config, request.headers.get("content-type", ""))
        carried = hooks.read(name, config, kind, body)
    except Refused as refused:
        service.metrics.hooks.labels(label, kind, OUTCOMES.get(refused.status, "refused")).inc()
        headers = {"connection": "close"}
        if isinstance(refused, Limited):
            headers.update(refused.headers)
        return JSONResponse({"error": refused.reason}, refused.status, headers=headers)
    return await _record(service, name, carried, config.hook_format == "twilio")


def _caller(request: Request) -> Caller:
    return Caller(
        token=bearer(request) or request.query_params.get("token"),
        signature=request.headers.get("x-twilio-signature"),
    )


async def _record(service: Service, name: str, carried: Hook, twiml: bool) -> Response:
    sink = service.hooks
    assert sink is not None  # checked before the body was read
    kind = "inbound" if isinstance(carried, Inbound) else "receipts"
    try:
        if isinstance(carried, Inbound):
            result = await run_in_threadpool(sink.inbound, carried)
            body: dict[str, int | str] = {"inbound": 1, "result": str(result)}
        else:
            results = await run_in_threadpool(sink.receipts, carried)
            if len(results) != len(carried):
                raise RuntimeError(f"the sink answered {len(results)} of {len(carried)} receipts")
            service.metrics.observe_receipts(name, carried, results)
            counts = Counter(results)
            body = {"receipts": len(carried)}
            body.update((r.value, counts[r]) for r in ReceiptResult)
    except Exception as exc:  # that hook's outcome, never the server's
        service.metrics.hooks.labels(name, kind, "failed").inc()
        log.error(
            "%s hook of %s not recorded: %s",
            kind,
            name,
            service.runner.describe(exc),
            extra={"provider": name, "kind": kind},
        )
        reason = "could not record it now; post it again later"
        return JSONResponse({"error": reason}, 503, headers={"connection": "close"})
    service.metrics.hooks.labels(name, kind, "accepted").inc()
    if twiml and kind == "inbound":
        return Response(TWIML_EMPTY, media_type="text/xml")
    return JSONResponse(body)
