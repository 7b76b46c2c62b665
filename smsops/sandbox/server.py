"""The sandbox HTTP server: every provider's emulated API plus `/_sandbox/*` controls.

Runs on a real loopback socket, in the foreground (`smsops sandbox`) or in a
background thread (`Sandbox`, for `--sandbox` and tests).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smsops.core.errors import UsageError
from smsops.providers.emulation import EmulatedRequest, Handler
from smsops.sandbox import inbound
from smsops.sandbox.emulators import base_paths, routes
from smsops.sandbox.poster import Poster
from smsops.sandbox.state import SandboxState


class DropConnection(Exception):
    """Raised after a response has started: the server closes the socket mid-response."""


class _QuietDrops(logging.Filter):
    """uvicorn logs every exception out of the app as "Exception in ASGI application" with
    its traceback: a DropConnection is the drop_every fault doing its job, not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DropConnection))


log = logging.getLogger("smsops.sandbox")


async def _hung_up(request: Request, exc: Exception) -> Response:
    """A client that left before its body was read: its choice, not an error of ours
    (uvicorn logged "Exception in ASGI application" for it). The answer goes nowhere:
    uvicorn drops what is sent to a closed connection."""
    log.debug(
        "a client hung up before its request was read: %s %s", request.method, request.url.path
    )
    return Response(status_code=499)  # nginx's "client closed request"; never sent


def _quiet_drops() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(found, _QuietDrops) for found in logger.filters):
        logger.addFilter(_QuietDrops())


def _provider_endpoint(handler: Handler, state: SandboxState) -> Any:
    async def endpoint(request: Request) -> Response:
        number = state.count_request()
        faults = state.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if state.over_rate_limit():
            return JSONResponse({"error": "rate limit exceeded"}, 429, {"Retry-After": "1"})
        if faults.status_every and number % faults.status_every == 0:
            headers = {}
            if faults.status in (429, 503) and faults.retry_after is not None:
                headers["Retry-After"] = f"{faults.retry_after:g}"
            return JSONResponse({"error": f"injected HTTP {faults.status}"}, faults.status, headers)
        if faults.echo_every and number % faults.echo_every == 0:
            return await _echo(request, faults.echo_status)
        if faults.raw_every and number % faults.raw_every == 0:
            return Response(faults.raw_body.encode(), faults.raw_status, faults.raw_headers)
        seen = EmulatedRequest(
            headers={name.lower(): value for name, value in request.headers.items()},
            body=await request.body(),
            path_params={name: str(value) for name, value in request.path_params.items()},
        )
        answer = await handler(seen, state)
        response = JSONResponse(answer.payload, answer.status, dict(answer.headers) or None)
        if faults.drop_every and number % faults.drop_every == 0:
            return _Dropped()
        return response

    return endpoint


async def _echo(request: Request, status: int) -> Response:
    """The request written back, in every field a provider's error would use.

    Each adapter reads a different field (`message`, `error`, `error-info`), so
    all of them carry the echo: whichever one a client quotes holds the keys.
    """
    lines = [f"{request.method} {request.url}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    body = (await request.body()).decode("utf-8", "replace")
    echo = "\n".join(lines) + "\n\n" + body
    answer = {"success": False, "status": "Failure", "error-code": "E_ECHO"}
    answer |= {"error": echo, "message": echo, "error-info": echo}
    return JSONResponse(answer, status)


class _Dropped(Response):
    """Starts a response, then fails: uvicorn closes the connection with no full reply."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise DropConnection


def build_app(state: SandboxState) -> Starlette:
    _quiet_drops()

    async def messages(request: Request) -> Response:
        if request.method == "DELETE":
            state.reset()
            return JSONResponse({"reset": True})
        found = state.snapshot()
        busiest = state.busiest_second()
        return JSONResponse({"count": len(found), "busiest_second": busiest, "messages": found})

    async def count(request: Request) -> Response:
        # What a benchmark polls while it waits: the record itself grows with every
        # message, and sending it whole each time costs this process more than the sends.
        return JSONResponse({"count": state.count()})

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            try:
                state.faults.update(await inbound.json_body(request, inbound.MAX_FAULTS_BODY))
            except inbound.BadBody as bad:
                return JSONResponse({"error": str(bad)}, bad.status)
            except (ValueError, TypeError, AttributeError) as exc:
                return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(state.faults_dict())

    async def callbacks(request: Request) -> Response:
        if request.method == "PUT":
            try:
                state.loop.configure(await inbound.json_body(request))
            except inbound.BadBody as bad:
                return JSONResponse({"error": str(bad)}, bad.status)
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(state.loop.shown())

    async def inbound_text(request: Request) -> Response:
        try:
            provider, text = inbound.text(await inbound.json_body(request))
        except inbound.BadBody as bad:
            return JSONResponse({"error": str(bad)}, bad.status)
        try:
            queued = state.loop.inject(provider, text)
        except KeyError:
            reason = "no target of that name takes inbound texts (PUT /_sandbox/callbacks)"
            return JSONResponse({"error": reason}, 404)
        if not queued:
            return JSONResponse({"error": "too many callbacks waiting; try again later"}, 503)
        return JSONResponse({"queued": True}, 202)

    served = [
        Route(path, _provider_endpoint(handler, state), methods=["POST"])
        for path, handler in routes()
    ]
    served += [
        Route("/_sandbox/messages", messages, methods=["GET", "DELETE"]),
        Route("/_sandbox/messages/count", count, methods=["GET"]),
        Route("/_sandbox/faults", faults, methods=["GET", "PUT"]),
        Route("/_sandbox/callbacks", callbacks, methods=["GET", "PUT"]),
        Route("/_sandbox/inbound", inbound_text, methods=["POST"]),
    ]
    return Starlette(routes=served, exception_handlers={ClientDisconnect: _hung_up})


class Sandbox:
    """The sandbox in a background thread: `with Sandbox() as sandbox: sandbox.base_url("aoc")`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, log_level: str = "critical") -> None:
        self.state = SandboxState()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        # log_config=None: in a process that set its logging up (run --sandbox) uvicorn's
        # default config would put its own handlers over it, unscrubbed, tracebacks whole.
        config = uvicorn.Config(
            build_app(self.state),
            log_level=log_level,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="smsops-sandbox", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, provider_type: str) -> str:
        """What a provider of this type uses as `base_url` to talk to the sandbox."""
        return self.url + base_paths()[provider_type]

    def _run(self) -> None:
        self._server.run(sockets=[self._socket])

    def start(self) -> Sandbox:
        self.state.loop.poster = Poster().start()
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()
        if self.state.loop.poster is not None:
            self.state.loop.poster.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port` before anything is announced; a taken port is an error."""
    try:
        sock = socket.create_server((host, port))
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def serve(sock: socket.socket) -> None:
    """Run the sandbox on `sock` in the foreground until interrupted (`smsops sandbox`)."""
    state = SandboxState()
    state.loop.poster = Poster().start()
    config = uvicorn.Config(build_app(state), log_level="info", access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        state.loop.poster.stop()
