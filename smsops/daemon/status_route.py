"""`GET /status.json`: the operator's view (engine/status.py) on run mode's port.

Who may read it is daemon/status_access.py's (the page's rule too): off
unless the config has the `status` map (404 naming it); with `status:
{token: ${env:NAME}}` a request needs `Authorization: Bearer` with that
token or the session cookie of the page's login: a missing or wrong one
gets 401 and nothing else, not even whether the view is there to read. With
`status: {public: true}` anyone who reaches the port may read it.

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
from starlette.responses import Response

from smsops.daemon.service import Service
from smsops.daemon.status_access import PRIVATE, Access, check, unauthorized
from smsops.engine.status import StatusView, status_of


def current_view(service: Service) -> StatusView:
    """The view now, as the runner sees it (call off the event loop: it reads the ledger)."""
    runner = service.runner
    return status_of(runner.config, service.ledger, datetime.now(UTC), env=runner.env)


async def status_json(service: Service, request: Request) -> Response:
    allowed = check(service, request)
    if isinstance(allowed, Response):
        return allowed
    if allowed is Access.LOGIN:
        return unauthorized()
    view = await run_in_threadpool(current_view, service)
    return Response(view.to_json(), media_type="application/json", headers=PRIVATE)
