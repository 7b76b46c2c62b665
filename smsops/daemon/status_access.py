"""Who may read the status view (`GET /`, `GET /status.json`) and the login that lets a browser.

Off unless the config has the `status` map. With `status: {public: true}`
anyone who reaches the port reads it. With `status: {token: ${env:NAME}}` a
request shows the token as `Authorization: Bearer ...`, or a session cookie
that `POST /login` set after a form sent the token (and `POST /logout`, the
page's sign-out button, ends on the server and clears):

- the cookie holds a random session id (256 bits), never the token; the
  server keeps at most `MAX_SESSIONS` (the oldest go first), each for
  `SESSION_TTL`, and each remembers a hash of the token it was opened with,
  so rotating the token (a reload) ends every session;
- HttpOnly, SameSite=Strict, Path=/, Secure when the request came over https;
- the login POST is a hostile body: at most `LOGIN_LIMIT` bytes of a form,
  a few fields, compared in constant time (core.secrets.token_matches), the
  token never echoed; an Origin (or Sec-Fetch-Site) naming another site is
  refused (with SameSite=Strict, no other site can ride a session);
- a wrong token, bearer or form, gets 401 and nothing of the view; an address
  wrong too often gets 429 with Retry-After, its credentials not compared
  (daemon/auth_limit.py).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from enum import Enum
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from smsops.config.tokens import refusal
from smsops.core.envref import resolve
from smsops.core.errors import Refused, SecretMissing
from smsops.core.secrets import token_matches
from smsops.daemon.api import bearer
from smsops.daemon.auth_limit import Door, Limited
from smsops.daemon.bodies import bounded
from smsops.daemon.service import Service

STATUS_OFF = (
    "the status view is off: add `status: {token: ${env:NAME}}` (or `status: {public: true}`) "
    "to the config"
)
COOKIE = "smsops_status"
SESSION_TTL = 12 * 3600.0  # seconds a login lasts
MAX_SESSIONS = 1000
LOGIN_LIMIT = 4096  # bytes of a login form body
PRIVATE = {"cache-control": "no-store"}


class Access(Enum):
    ALLOWED = "allowed"
    LOGIN = "login"  # token mode and no credentials shown: a browser gets the login form


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "replace")).digest()


class Sessions:
    """Logged-in browsers: hash of the session id -> (expiry, hash of the token)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._open: OrderedDict[bytes, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, token: str) -> str:
        session = secrets.token_urlsafe(32)
        with self._lock:
            self._open[_digest(session)] = (self._clock() + SESSION_TTL, _digest(token))
            while len(self._open) > MAX_SESSIONS:
                self._open.popitem(last=False)
        return session

    def valid(self, session: str, token: str) -> bool:
        """Whether `session` is open, not expired, and was opened with `token`."""
        key = _digest(session)
        with self._lock:
            found = self._open.get(key)
            if found is None:
                return False
            expires, opened_with = found
            if expires <= self._clock() or not secrets.compare_digest(opened_with, _digest(token)):
                del self._open[key]
                return False
            return True

    def close(self, session: str) -> None:
        """End `session` here, so a copy of its cookie kept anywhere opens nothing."""
        with self._lock:
            self._open.pop(_digest(session), None)

    def __len__(self) -> int:
        return len(self._open)


def sessions(service: Service) -> Sessions:
    return service.keep("status-sessions", Sessions)


def _token(service: Service) -> str | Response | None:
    """The token in force (None: public), or the answer when the view cannot be read."""
    runner = service.runner
    access = runner.config.status
    if access is None:
        return JSONResponse({"error": STATUS_OFF}, 404)
    if access.token is None:
        return None
    try:
        expected = resolve(access.token, runner.env, "status")
    except SecretMissing as missing:
        message = f"the status token is not set: set {missing.variable}"
        return JSONResponse({"error": message}, 503)
    if not expected:
        return JSONResponse({"error": "the status token is empty: set its variable"}, 503)
    if (weak := refusal("the status token", access.token, expected)) is not None:
        return JSONResponse({"error": weak}, 503)  # never compared against
    return expected


def unauthorized() -> Response:
    """401 and nothing else: not even whether there is a view to read."""
    return Response(status_code=401, headers={"www-authenticate": "Bearer", **PRIVATE})


def check(service: Service, request: Request) -> Access | Response:
    """Whether `request` may read the view: ALLOWED, LOGIN (no credentials at all), or
    the answer to give instead (404 off, 503 token unset, 401 wrong token, 429 from an
    address wrong too often: its credentials are not compared)."""
    expected = _token(service)
    if isinstance(expected, Response):
        return expected
    if expected is None:
        return Access.ALLOWED
    given = bearer(request)
    cookie = request.cookies.get(COOKIE)
    if given is None and cookie is None and "authorization" not in request.headers:
        return Access.LOGIN
    door = Door(service, request, "status")
    try:
        door.admit()
    except Limited as limited:
        return too_many(limited)
    if given is not None:
        right = token_matches(expected, given)
    elif "authorization" in request.headers:  # another scheme, or an empty bearer
        right = False
    else:
        right = cookie is not None and sessions(service).valid(cookie, expected)
    if not right:
        door.failed()
        return unauthorized()
    door.passed()
    return Access.ALLOWED


def too_many(limited: Limited) -> Response:
    """429 with Retry-After, and nothing else."""
    return Response(status_code=429, headers={**limited.headers, **PRIVATE})


def _same_site(request: Request) -> bool:
    """The POST came from this server's own page (or from no page: a script or curl)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "") != ""


async def login(service: Service, request: Request) -> tuple[int, str | None]:
    """`POST /login`: (status, session id to set: None unless 303). The body is a form
    with one `token`; 400/413/415 for a malformed one, 403 from another site,
    401 for a wrong token, 404 when the view is off or public (nothing to log into).
    Raises Limited (429) before anything else when the address was wrong too often."""
    expected = _token(service)
    if isinstance(expected, Response):
        return expected.status_code, None
    if expected is None:
        return 404, None
    door = Door(service, request, "login")
    door.admit()
    if not _same_site(request):
        return 403, None
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return 415, None
    try:
        body = await bounded(request, LOGIN_LIMIT)
        fields = parse_qs(body.decode("ascii"), max_num_fields=4, strict_parsing=False)
    except Refused as refused:
        return refused.status, None
    except ValueError:  # not ASCII (a form encodes everything), or too many fields
        return 400, None
    given = fields.get("token", [""])
    if len(given) != 1 or not token_matches(expected, given[0]):
        door.failed()
        return 401, None
    door.passed()
    return 303, sessions(service).open(expected)


def logout(service: Service, request: Request) -> int:
    """`POST /logout`: 303 with the session ended on the server (whatever its cookie was:
    an unknown one ends nothing), 403 from another site (as `/login`), 404 when there is
    no token to log in with."""
    if service.runner.config.status is None or service.runner.config.status.token is None:
        return 404
    if not _same_site(request):
        return 403
    cookie = request.cookies.get(COOKIE)
    if cookie is not None:
        sessions(service).close(cookie)
    return 303


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )


def session_cookie(response: Response, request: Request, session: str) -> None:
    response.set_cookie(
        COOKIE,
        session,
        max_age=int(SESSION_TTL),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
