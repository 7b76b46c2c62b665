"""`GET /`: the status page, one server-rendered HTML page of the operator's view.

The view is `engine/status.py`'s (what `/status.json` and `smsops status`
show) plus what only the running daemon knows: the config generation in
force, when it loaded, the last refused reload (with its file:line:col),
and each provider's last hour (daemon/provider_window.py). Rendered by
Jinja2 from the package's templates/ with autoescape on: every name and
text from a config, the ledger or a provider is data, escaped, never markup,
its control and bidi characters written out as the terminal view writes them
(tests/daemon/test_status_page_hostile.py feeds hostile ones through every
field). Numbers: suppressions are masked by the view; free text (hold
details, the reload error, a replica's command) passes `scrub_numbers`.

One line of script, allowed by its hash and nothing else: the page reloads
itself every `REFRESH` seconds (`?refresh=off` stops it, a link on the page:
a time limit a person can turn off, WCAG 2.2.1, which a bare `<meta
http-equiv=refresh>` is not). Without script a `<noscript>` meta refresh
does the same, so the page works without it. Its bars and charts are inline
SVG whose sizes are attributes, so the Content-Security-Policy is
`default-src 'none'` with that script's hash and the one stylesheet it
serves (`/status.css`): no other script or style runs, whatever got in.

Access is daemon/status_access.py's; the page is built in a worker thread
from read-only queries (never the ledger's write lock).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from smsops.core.phone import scrub_numbers
from smsops.core.terminal import printable
from smsops.core.words import plural
from smsops.daemon.auth_limit import Limited
from smsops.daemon.provider_window import ProviderHour
from smsops.daemon.service import Service
from smsops.daemon.status_access import (
    COOKIE,
    PRIVATE,
    Access,
    check,
    clear_cookie,
    login,
    logout,
    session_cookie,
)
from smsops.daemon.status_route import current_view
from smsops.engine.status import Counts, OccurrenceStatus, StatusView

REFRESH = 30  # seconds between the page's own reloads
RELOAD_SCRIPT = f"setTimeout(function () {{ location.reload(); }}, {REFRESH * 1000});"
_HASH = base64.b64encode(hashlib.sha256(RELOAD_SCRIPT.encode()).digest()).decode()
# Every response of the page: nothing but its own stylesheet and that one line of script
# load, nothing frames it.
SECURITY = {
    "content-security-policy": (
        f"default-src 'none'; script-src 'sha256-{_HASH}'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",  # no-referrer would make the login's Origin "null"
    "x-frame-options": "DENY",
}
# The columns of an occurrence: every count of the view's `Counts`, in its order.
COLUMNS = [name for name in Counts.model_fields if name != "delivery_rate"]


@dataclass(frozen=True)
class Daemon:
    """What only the running daemon knows about its config."""

    generation: int
    loaded_at: datetime
    reload_error: str | None


@dataclass(frozen=True)
class Segment:
    status: str
    count: int
    x: float
    width: float


def bar(counts: Counts) -> list[Segment]:
    """The occurrence's rows as segments of a 100-unit bar, one per non-zero status."""
    total = sum(getattr(counts, name) for name in COLUMNS)
    segments, x = [], 0.0
    for name in COLUMNS:
        count = getattr(counts, name)
        if count and total:
            width = 100 * count / total
            segments.append(Segment(name, count, round(x, 3), round(width, 3)))
            x += width
    return segments


@dataclass(frozen=True)
class Row:
    """One occurrence as the page shows it, made once in Python (the template only
    writes it out: per-cell lookups in Jinja cost more than the rest of the page)."""

    cells: list[tuple[str, int]]
    rate: str
    segments: list[Segment]
    label: str
    skips: str  # the latest plan's skips by reason ("" without any)


def row(occurrence: OccurrenceStatus) -> Row:
    counts = occurrence.counts
    segments = bar(counts)
    label = ", ".join(f"{g.status} {g.count}" for g in segments) or "no rows"
    cells = [(name, getattr(counts, name)) for name in COLUMNS]
    skips = ", ".join(f"{reason.value} {n}" for reason, n in sorted(occurrence.skips.items()))
    return Row(cells, _rate(counts.delivery_rate), segments, label, skips)


@dataclass(frozen=True)
class Column:
    x: float
    height: float  # of all requests
    errors: float  # height of the errors part
    label: str


CHART_WIDTH, CHART_HEIGHT = 240, 48


def chart(hour: ProviderHour) -> list[Column]:
    """One column per minute of the hour, heights scaled to the busiest minute."""
    most = max((m.requests for m in hour.minutes), default=0) or 1
    step = CHART_WIDTH / max(len(hour.minutes), 1)
    return [
        Column(
            x=round(i * step, 2),
            height=round(CHART_HEIGHT * m.requests / most, 2),
            errors=round(CHART_HEIGHT * m.errors / most, 2),
            label=f"{_minute(m.minute)}: {plural(m.requests, 'request')}, "
            f"{plural(m.errors, 'error')}",
        )
        for i, m in enumerate(hour.minutes)
    ]


def _minute(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%H:%M")


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _shown(value: Any) -> Any:
    """Every text the page writes, as the terminal view prints it (core.terminal.printable):
    a control or bidi character is written as `<U+202E>`, so a right-to-left override in a
    name can neither flip the text around it nor hide what the name is. Our own markup
    (a macro's output, the reload script) passes as it is."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return printable(value)
    return value


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("smsops.daemon", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_shown,
    )
    env.filters.update(when=_when, seconds=_seconds, rate=_rate, scrub=scrub_numbers)
    env.globals.update(row=row, chart=chart, COLUMNS=COLUMNS)
    return env


def render_page(
    view: StatusView,
    daemon: Daemon,
    providers: Sequence[ProviderHour],
    refresh: bool = True,
    signed_in: bool = False,
) -> str:
    """The page's HTML (`refresh`: reloading itself every REFRESH seconds; `signed_in`:
    with the sign-out button of a browser's session)."""
    context: dict[str, Any] = {
        "signed_in": signed_in,
        "view": view,
        "daemon": daemon,
        "providers": providers,
        "refresh": refresh,
        "every": REFRESH,
        "reload_script": Markup(RELOAD_SCRIPT),  # noqa: S704 (our constant, its hash in the CSP)
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
    }
    return _environment().get_template("status.html").render(context)


def render_login(refused: bool) -> str:
    return _environment().get_template("login.html").render(refused=refused)


def build_page(service: Service, refresh: bool = True, signed_in: bool = False) -> str:
    """The page now (call off the event loop: it reads the ledger)."""
    view = current_view(service)
    health = service.health
    daemon = Daemon(health.generation, health.loaded_at, health.reload_error)
    providers = service.metrics.window.hour(list(service.runner.config.providers))
    return render_page(view, daemon, providers, refresh, signed_in)


def _html(body: str, status: int = 200) -> Response:
    return HTMLResponse(body, status, headers={**SECURITY, **PRIVATE})


async def page(service: Service, request: Request) -> Response:
    allowed = check(service, request)
    if allowed is Access.LOGIN:
        return _html(render_login(refused=False), 401)
    if isinstance(allowed, Response):
        if allowed.status_code == 401:
            return allowed
        # off (404) or an unset token (503): the JSON that says which, with the page's headers
        allowed.headers.update(SECURITY)
        return allowed
    refresh = request.query_params.get("refresh") != "off"
    signed_in = COOKIE in request.cookies  # a browser's session: it may sign out
    return _html(await run_in_threadpool(build_page, service, refresh, signed_in))


async def login_form(service: Service, request: Request) -> Response:
    """`POST /login`: a right token opens a session and goes to the page (303)."""
    try:
        status, session = await login(service, request)
    except Limited as limited:
        return Response(status_code=429, headers={**SECURITY, **PRIVATE, **limited.headers})
    if session is not None:
        response = RedirectResponse("/", 303, headers={**SECURITY, **PRIVATE})
        session_cookie(response, request, session)
        return response
    if status == 401:  # the same form again, nothing of what was sent
        return _html(render_login(refused=True), 401)
    return Response(status_code=status, headers={**SECURITY, **PRIVATE})


async def logout_form(service: Service, request: Request) -> Response:
    """`POST /logout`: the session ends on the server, its cookie is cleared, back to `/`."""
    status = logout(service, request)
    if status != 303:
        return Response(status_code=status, headers={**SECURITY, **PRIVATE})
    response = RedirectResponse("/", 303, headers={**SECURITY, **PRIVATE})
    clear_cookie(response, request)
    return response


@functools.cache
def _stylesheet() -> bytes:
    return files("smsops.daemon").joinpath("templates", "status.css").read_bytes()


async def stylesheet(request: Request) -> Response:
    """The page's one stylesheet (no secret in it: served to anyone, as the login needs it)."""
    headers = {**SECURITY, "cache-control": "max-age=300"}
    return Response(_stylesheet(), media_type="text/css", headers=headers)
