"""The API of `smsops run` (docs/api.md): JSON over HTTP behind one bearer token.

The shell every `/v1/...` route shares, so a route module (api_messages.py)
holds only what its routes do. An `ApiRoute` names its method, path, request
model and answers; `endpoint` wraps its handler in the same steps, in this
order, each refusing with a 4xx and a one-line reason:

1. the API is on: the config has an `api` map (404 without one: a config
   that never asked for an API exposes none), and its token is set (503);
2. `Authorization: Bearer TOKEN`, compared in constant time (401), before
   anything reads the body: an unauthenticated caller is never parsed, never
   recorded, never sent for; an address wrong too often gets 429 with
   Retry-After, its token not compared (daemon/auth_limit.py);
3. for a route with a body: `Content-Type: application/json` (415), read
   in chunks and refused past MAX_BODY (413), JSON no deeper than the
   providers' guard allows, strict (NaN and Infinity are not JSON), then the
   route's pydantic model (400 for what is not JSON, 422 for what the model
   refuses, naming the fields, never quoting their values).

Whatever the handler raises besides `Refused` is that request's outcome: a
500 whose reason says to look at the log, one masked line there; the server
goes on. Every request is counted (`smsops_api_requests_total{route,outcome}`)
and timed (`smsops_api_seconds{route}`); refusals are never logged one by one,
so a flood of bad requests is not a flood of log lines. The answers of every
route, and the OpenAPI document (daemon/openapi.py), come from the same
models: one home for the shapes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from smsops.config.tokens import refusal
from smsops.core.envref import resolve
from smsops.core.errors import Refused, SecretMissing
from smsops.core.secrets import token_matches
from smsops.daemon.auth_limit import Door, Limited
from smsops.daemon.bodies import bounded
from smsops.providers.base import too_deep

if TYPE_CHECKING:
    from smsops.daemon.service import Service

log = logging.getLogger("smsops.api")
MAX_BODY = 16 * 1024  # bytes of a request body: a message request is a few hundred
MAX_REASON_FIELDS = 5  # fields named in one 422 (a body with 500 bad fields gets 5)
OUTCOMES = {
    400: "malformed",
    401: "unauthorized",
    404: "not_found",
    409: "conflict",
    413: "too_large",
    429: "limited",
    415: "unsupported_type",
    422: "invalid",
    503: "unavailable",
}
M = TypeVar("M", bound=BaseModel)
API_OFF = "the API is off: this config has no `api` map (docs/api.md)"


class ApiError(BaseModel):
    """Every refusal and failure: a short reason, never quoting the body or a number."""

    model_config = ConfigDict(extra="forbid")
    error: str = Field(description="What was wrong, and what to do about it.")


@dataclass(frozen=True)
class Answer:
    """A handler's answer: its HTTP status, its body, and the outcome counted in metrics."""

    status: int
    body: BaseModel
    outcome: str = "ok"


@dataclass(frozen=True)
class Call:
    """One authenticated request as a handler sees it."""

    service: Service
    params: Any  # the route's `params` model, validated (else the path's parameters)
    body: Any  # the route's `body` model, validated (None for a route without one)


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str  # a starlette path: /v1/messages/{key}
    name: str  # the metrics' `route` label and the OpenAPI operationId
    summary: str
    handle: Callable[[Call], Awaitable[Answer]]
    answers: Mapping[int, tuple[type[BaseModel], str]]  # status -> (model, when)
    body: type[BaseModel] | None = None
    params: type[BaseModel] | None = None  # the path's parameters, checked as the body is
    refusals: tuple[int, ...] = field(default=(400, 401, 404, 413, 415, 422, 429, 503))


def endpoint(service: Service, route: ApiRoute) -> Callable[[Request], Awaitable[Response]]:
    """The starlette endpoint of `route` on `service`: the steps above, then its handler."""

    async def serve(request: Request) -> Response:
        started = time.perf_counter()
        headers = {}
        try:
            authorize(service, request)
            params: Any = request.path_params
            if route.params is not None:
                params = validated(route.params, params)
            body = await read_body(request, route.body) if route.body is not None else None
            answer = await route.handle(Call(service, params, body))
        except Refused as refused:
            outcome = OUTCOMES.get(refused.status, "refused")
            answer = Answer(refused.status, ApiError(error=refused.reason), outcome)
            if isinstance(refused, Limited):
                headers = refused.headers
        except Exception as exc:  # that request's outcome, never the server's
            log.error(
                "API %s failed: %s",
                route.name,
                service.runner.describe(exc),
                extra={"route": route.name},
            )
            reason = "the request failed inside smsops; the server's log says why"
            answer = Answer(500, ApiError(error=reason), "failed")
        service.metrics.api_requests.labels(route.name, answer.outcome).inc()
        service.metrics.api_seconds.labels(route.name).observe(time.perf_counter() - started)
        # A refusal may leave a body unread: close, so it is never parsed as a next request.
        if answer.status >= 400:
            headers["connection"] = "close"
        content = answer.body.model_dump(mode="json", exclude_none=True)
        return JSONResponse(content, answer.status, headers=headers)

    return serve


def authorize(service: Service, request: Request) -> None:
    """Refuses unless the API is on and the request carries its token (constant-time),
    from a client the failed-auth limit lets try (daemon/auth_limit.py)."""
    api = service.runner.config.api
    if api is None:
        raise Refused(404, API_OFF)
    try:
        expected = resolve(api.token, service.runner.env, "api")
    except SecretMissing as missing:
        raise Refused(503, f"the API token is not set: set {missing.variable}") from None
    if not expected:
        raise Refused(503, "the API token is empty: set its environment variable")
    if (weak := refusal("the API token", api.token, expected)) is not None:
        raise Refused(503, weak)  # never compared against: a guess could match it
    door = Door(service, request, "api")
    door.admit()
    given = bearer(request)
    if given is None:
        raise Refused(401, "the token is missing: send Authorization: Bearer TOKEN")
    if not token_matches(expected, given):
        door.failed()
        raise Refused(401, "the token is wrong")
    door.passed()


def bearer(request: Request) -> str | None:
    """The request's `Authorization: Bearer ...` credentials; None without any."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_body(request: Request, model: type[M]) -> M:
    """The body as `model`: JSON, bounded, strict; a `Refused` naming what is wrong."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/json":
        raise Refused(415, "send the body as Content-Type: application/json")
    raw = await bounded(request, MAX_BODY)
    if too_deep(raw):
        raise Refused(400, "the JSON nests too deeply")
    try:
        data = json.loads(raw, parse_constant=_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise Refused(400, "the body is not JSON (UTF-8)") from None
    if not isinstance(data, dict):
        raise Refused(422, "the body must be a JSON object")
    return validated(model, data)


def validated(model: type[M], data: Mapping[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Refused(422, invalid_fields(exc)) from None


def invalid_fields(error: ValidationError) -> str:
    """What pydantic refused, by field, never quoting a value (it may be a number)."""
    parts = []
    for item in error.errors(include_url=False, include_input=False)[:MAX_REASON_FIELDS]:
        where = ".".join(str(part) for part in item["loc"]) or "body"
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    more = error.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
