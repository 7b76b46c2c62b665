"""`GET /status.json`: the operator's view (engine/status.py) on run mode's port.

Off unless the config has the `status` map (404 naming it); with
`status: {token: ${env:NAME}}` a request needs `Authorization: Bearer` with
that token (compared in constant time): a missing or wrong one gets 401 and
nothing else, not even whether the view is there to read. With `status:
{public: true}` anyone who reaches the port may read it.

Built off the event loop (a worker thread, as the hooks' sink runs), from
read-only queries: no request here takes the ledger's write lock, and the
probes and /metrics keep answering while it is built. Held schedules are
the ones the rounds recorded as held in the ledger (engine/status.py), and
the missing secrets of the runner's environment.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from smsops.core.envref import resolve
from smsops.core.errors import SecretMissing
from smsops.core.secrets import token_matches
from smsops.daemon.api import bearer
from smsops.daemon.service import Service
from smsops.engine.status import StatusView, status_of

STATUS_OFF = (
    "the status view is off: add `status: {token: ${env:NAME}}` (or `status: {public: true}`) "
    "to the config"
)
_PRIVATE = {"cache-control": "no-store"}


async def status_json(service: Service, request: Request) -> Response:
    runner = service.runner
    config = runner.config
    access = config.status
    if access is None:
        return JSONResponse({"error": STATUS_OFF}, 404)
    if access.token is not None:
        try:
            expected = resolve(access.token, runner.env, "status")
        except SecretMissing as missing:
            message = f"the status token is not set: set {missing.variable}"
            return JSONResponse({"error": message}, 503)
        if not expected:
            return JSONResponse({"error": "the status token is empty: set its variable"}, 503)
        given = bearer(request)
        if given is None or not token_matches(expected, given):
            return Response(status_code=401, headers={"www-authenticate": "Bearer", **_PRIVATE})

    def build() -> StatusView:
        now = datetime.now(UTC)
        return status_of(config, service.ledger, now, env=runner.env)

    view = await run_in_threadpool(build)
    return Response(view.to_json(), media_type="application/json", headers=_PRIVATE)
