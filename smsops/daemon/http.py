"""Run mode's HTTP side: /healthz (liveness), /readyz (readiness), /metrics (Prometheus),
/status.json (the operator's view, daemon/status_route.py) and its page, / (with /login,
/logout and /status.css, daemon/status_page.py; these and the API answer only the
hosts daemon/hosts.py allows), the providers' webhooks,
POST /hooks/{provider}/receipts|inbound (daemon/hooks.py),
and the API, /v1/... (daemon/api.py; its routes are `API_ROUTES`) with /openapi.json.

Served behind the front door (`smsops.core.frontdoor`: connection cap, header
limits, timeouts, bounded logging), with a connection cap that leaves file
descriptors for every provider connection the config may open.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smsops.config.loader import Config
from smsops.core.errors import UsageError
from smsops.core.frontdoor import FrontDoor, Limits, fit_descriptors
from smsops.daemon import api_messages, api_otp
from smsops.daemon.api import API_OFF, ApiRoute, endpoint
from smsops.daemon.hooks import hook
from smsops.daemon.hosts import Endpoint, host_checked
from smsops.daemon.openapi import openapi
from smsops.daemon.service import Service
from smsops.daemon.status_page import login_form, logout_form, page, stylesheet
from smsops.daemon.status_route import status_json

# Every route of the API, in the order docs/openapi.json lists them: a route
# module's ROUTES join here, and with that the server and the document.
API_ROUTES: list[ApiRoute] = [*api_messages.ROUTES, *api_otp.ROUTES]


def build_app(service: Service, api: Sequence[ApiRoute] | None = None) -> Starlette:
    """The app of `service`; `api`: the API's routes (default API_ROUTES)."""
    api = API_ROUTES if api is None else api
    document = openapi(api)

    async def healthz(request: Request) -> Response:
        """Alive. `degraded` when the newest config on disk was refused (restarting won't help),
        a schedule's latest round failed (`failing`: schedule -> masked error) or a job, task
        or loop callback raised (`jobs`: job -> masked error). `held`: schedule -> the
        limits its latest plan is over (held until approved; not degraded)."""
        health = service.health
        failing = dict(service.runner.failures.errors)
        jobs = dict(service.runner.jobs.errors)
        body: dict[str, Any] = {
            "status": "degraded" if health.reload_error or failing or jobs else "ok",
            "generation": health.generation,
        }
        if health.reload_error:
            body["error"] = health.reload_error
        if failing:
            body["failing"] = failing
        if jobs:
            body["jobs"] = jobs
        if held := dict(service.runner.over_limits):  # not degraded: held on purpose
            body["held"] = held
        return JSONResponse(body)

    async def readyz(request: Request) -> Response:
        ok, detail = await service.ready()
        return JSONResponse({"ready": ok, "detail": detail}, 200 if ok else 503)

    async def metrics(request: Request) -> Response:
        service.metrics.in_flight.set(service.runner.in_flight())
        service.export_next_fires()
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def receipts(request: Request) -> Response:
        return await hook(service, request, "receipts")

    async def inbound(request: Request) -> Response:
        return await hook(service, request, "inbound")

    async def status(request: Request) -> Response:
        return await status_json(service, request)

    async def status_page(request: Request) -> Response:
        return await page(service, request)

    async def status_login(request: Request) -> Response:
        return await login_form(service, request)

    async def status_logout(request: Request) -> Response:
        return await logout_form(service, request)

    async def openapi_json(request: Request) -> Response:
        """The API's document (no token: it holds no secret); 404 while the API is off."""
        if service.runner.config.api is None:
            return JSONResponse({"error": API_OFF}, 404)
        return JSONResponse(document)

    def guard(handler: Endpoint) -> Endpoint:
        return host_checked(service, handler)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            # The page, its login and the API answer only the hosts daemon/hosts.py allows.
            Route("/status.json", guard(status)),
            Route("/", guard(status_page)),
            Route("/login", guard(status_login), methods=["POST"]),
            Route("/logout", guard(status_logout), methods=["POST"]),
            Route("/status.css", guard(stylesheet)),
            Route("/hooks/{provider}/receipts", receipts, methods=["POST"]),
            Route("/hooks/{provider}/inbound", inbound, methods=["POST"]),
            Route("/openapi.json", guard(openapi_json)),
            *(Route(r.path, guard(endpoint(service, r)), methods=[r.method]) for r in api),
        ]
    )


def listening_socket(host: str, port: int) -> socket.socket:
    """The HTTP socket, bound before anything else starts so a busy port is a clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "choose another address with --listen HOST:PORT"
        ) from None


def outbound_connections(config: Config) -> int:
    """The most provider connections run mode may hold at once under `config`.

    A round pools its providers' `max_in_flight` connections (engine/apply.py)
    and rounds of different schedules run at once, so: the sum over schedules.
    """
    return sum(
        config.providers[name].max_in_flight
        for schedule in config.schedules.values()
        for name in schedule.providers
        if name in config.providers
    )


def http_server(
    service: Service, limits: Limits | None = None, api: Sequence[ApiRoute] | None = None
) -> FrontDoor:
    """The server; serve it with `serve(sockets=[listening_socket(...)])`.

    Raises the descriptor limit and sizes the connection cap to fit (a
    UsageError when nothing fits).
    """
    wanted = limits or Limits()
    fitted = fit_descriptors(wanted, outbound_connections(service.runner.config))
    return FrontDoor(build_app(service, api), fitted)
