"""GET / and POST /login over a real loopback socket: who sees the page, how a browser logs
in (a session cookie, never the token), and the headers every answer of the page carries."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from smsops.daemon.status_access import COOKIE, LOGIN_LIMIT, MAX_SESSIONS, Sessions
from smsops.daemon.status_page import RELOAD_SCRIPT
from smsops.ledger.memory import MemoryLedger
from tests.daemon.apiserver import ApiServed, api_serving
from tests.ledger.seeding import generated, write
from tests.ledger.status_config import CONFIG, SCHEDULES

TOKEN = "status-token-0123456789-abcdefghijkl"
ENV = {"SKY_KEY": "k", "STATUS_TOKEN": TOKEN}
PRIVATE = "status:\n  token: ${env:STATUS_TOKEN}\n"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def _seeded() -> MemoryLedger:
    ledger = MemoryLedger()
    write(ledger, generated(9, SCHEDULES, 60))
    return ledger


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServed]:
    root = tmp_path_factory.mktemp("page")
    with api_serving(root, PRIVATE + CONFIG, ENV, ledger=_seeded()) as served:
        yield served


def _secure(headers: httpx.Headers) -> None:
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert "script-src 'sha256-" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"


def test_bearer_reads_the_page_with_its_security_headers(served: ApiServed) -> None:
    with served.client(authorization=f"Bearer {TOKEN}") as client:
        answer = client.get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["cache-control"] == "no-store"
    _secure(answer.headers)
    assert 'http-equiv="refresh"' in answer.text  # without script, the noscript one
    for name in SCHEDULES:
        assert f'data-schedule="{name}"' in answer.text
    digest = base64.b64encode(hashlib.sha256(RELOAD_SCRIPT.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in answer.headers["content-security-policy"]
    assert f"<script>{RELOAD_SCRIPT}</script>" in answer.text
    with served.client(authorization=f"Bearer {TOKEN}") as client:
        still = client.get("/?refresh=off").text
    assert "<script" not in still
    assert "http-equiv" not in still


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer wrong"},
        {"authorization": f"Basic {TOKEN}"},
        {"authorization": ""},
        {"cookie": f"{COOKIE}=forged"},
    ],
)
def test_wrong_credentials_get_401_and_nothing_else(
    served: ApiServed, headers: dict[str, str]
) -> None:
    with served.client(**headers) as client:
        for path in ("/", "/status.json"):
            answer = client.get(path)
            assert answer.status_code == 401
            assert answer.content == b""


def test_no_credentials_get_the_login_form_and_nothing_of_the_view(served: ApiServed) -> None:
    with served.client() as client:
        answer = client.get("/")
        assert answer.status_code == 401
        _secure(answer.headers)
        assert 'action="/login"' in answer.text
        assert not any(name in answer.text for name in SCHEDULES)
        assert client.get("/status.json").status_code == 401
        assert client.get("/status.css").status_code == 200  # the form's look, no data


def test_the_login_sets_a_session_cookie_the_page_and_json_accept(served: ApiServed) -> None:
    with served.client() as client:
        answer = client.post("/login", content=urlencode({"token": TOKEN}), headers=FORM)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/" in cookie
        assert TOKEN not in cookie
        assert client.get("/").status_code == 200
        assert client.get("/status.json").json()["version"] == 1


def test_a_wrong_token_in_the_form_is_401_and_never_echoed(served: ApiServed) -> None:
    guess = "guess-<b>-" + TOKEN[:-1]
    with served.client() as client:
        answer = client.post("/login", content=urlencode({"token": guess}), headers=FORM)
        assert answer.status_code == 401
        assert "set-cookie" not in answer.headers
        assert guess not in answer.text
        assert "guess" not in answer.text
        assert client.get("/").status_code == 401


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        ("token=" + "a" * LOGIN_LIMIT, FORM, 413),
        ("token=\xff", FORM, 400),
        ("&".join(f"f{i}=x" for i in range(50)), FORM, 400),
        (f"token={TOKEN}&token={TOKEN}", FORM, 401),
        (f'{{"token": "{TOKEN}"}}', {"content-type": "application/json"}, 415),
        (f"token={TOKEN}", {**FORM, "origin": "http://evil.example"}, 403),
        (f"token={TOKEN}", {**FORM, "sec-fetch-site": "cross-site"}, 403),
        (f"token={TOKEN}", {**FORM, "origin": "null"}, 403),  # a sandboxed frame, say
    ],
)
def test_hostile_login_bodies_are_refused_without_a_session(
    served: ApiServed, body: str, headers: dict[str, str], status: int
) -> None:
    with served.client() as client:
        answer = client.post("/login", content=body.encode("latin-1"), headers=headers)
        assert answer.status_code == status
        assert "set-cookie" not in answer.headers
        assert TOKEN not in answer.text


def test_a_login_from_the_page_itself_is_taken(served: ApiServed) -> None:
    origin = {"origin": served.base, "sec-fetch-site": "same-origin"}
    with served.client() as client:
        answer = client.post("/login", content=f"token={TOKEN}", headers={**FORM, **origin})
        assert answer.status_code == 303


def test_sessions_are_bounded_expire_and_end_when_the_token_changes() -> None:
    now = [0.0]
    sessions = Sessions(lambda: now[0])
    first = sessions.open("t")
    assert sessions.valid(first, "t")
    assert not sessions.valid(first, "rotated")  # and that ended it
    assert not sessions.valid(first, "t")
    ids = [sessions.open("t") for _ in range(MAX_SESSIONS + 5)]
    assert len(sessions) == MAX_SESSIONS
    assert not sessions.valid(ids[0], "t")
    assert sessions.valid(ids[-1], "t")
    now[0] += 13 * 3600
    assert not sessions.valid(ids[-1], "t")


def test_off_and_public(tmp_path: Path) -> None:
    with api_serving(tmp_path, CONFIG, ENV) as served, served.client() as client:
        assert client.get("/").status_code == 404
        assert client.post("/login", content=f"token={TOKEN}", headers=FORM).status_code == 404
        assert client.get("/healthz").status_code == 200
    public = "status:\n  public: true\n" + CONFIG
    with api_serving(tmp_path, public, ENV, ledger=_seeded()) as served, served.client() as c:
        answer = c.get("/")
        assert answer.status_code == 200
        _secure(answer.headers)


def _logged_in(client: httpx.Client) -> str:
    answer = client.post("/login", content=urlencode({"token": TOKEN}), headers=FORM)
    assert answer.status_code == 303
    return client.cookies[COOKIE]


def test_logout_ends_the_session_on_the_server_and_clears_the_cookie(served: ApiServed) -> None:
    with served.client() as client:
        session = _logged_in(client)
        page = client.get("/")
        assert 'action="/logout"' in page.text  # the page's sign-out button
        answer = client.post("/logout", headers={"origin": served.base})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/"
        cleared = answer.headers["set-cookie"]
        assert cleared.startswith(f'{COOKIE}="";') or cleared.startswith(f"{COOKIE}=;")
        assert "Max-Age=0" in cleared
        _secure(answer.headers)
        assert client.get("/").status_code == 401  # the form again
    # the old cookie, replayed (a copy kept elsewhere), is ended too: server-side
    with served.client(cookie=f"{COOKIE}={session}") as replay:
        assert replay.get("/status.json").status_code == 401


def test_a_logout_from_another_site_is_refused_and_the_session_lives(served: ApiServed) -> None:
    with served.client() as client:
        _logged_in(client)
        for headers in (
            {"origin": "http://evil.example"},
            {"sec-fetch-site": "cross-site"},
            {"origin": "null"},
        ):
            answer = client.post("/logout", headers=headers)
            assert answer.status_code == 403
            assert "set-cookie" not in answer.headers
        assert client.get("/status.json").status_code == 200


def test_a_logout_without_a_session_just_clears_the_cookie(served: ApiServed) -> None:
    with served.client() as client:
        assert client.post("/logout").status_code == 303
    with served.client(cookie=f"{COOKIE}=forged") as client:
        assert client.post("/logout").status_code == 303
