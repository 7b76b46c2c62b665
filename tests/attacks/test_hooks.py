"""Hostile webhook bodies (issue 21): each gets a clean 4xx, the sink is never called,
and the server goes on serving. Over real loopback sockets to the run server's HTTP
side (tests/daemon/hookserver.py: the front door, the routes, a recording sink)."""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from smsops.providers.hooks import MAX_BODY
from smsops.providers.twilio_hooks import twilio_signature
from tests.daemon.floods import readable
from tests.daemon.hookserver import PUBLIC, TOKEN, TWILIO_TOKEN, Served, serving

XML, JSON, FORM = "application/xml", "application/json", "application/x-www-form-urlencoded"
BEARER = {"authorization": f"Bearer {TOKEN}"}
NUMBER = "+447400123456"

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 or "")) * 10}">' for i in range(1, 10))
    + "]><POSTBACK><ORIGIN>SMS_MT</ORIGIN><TRACKINGID>&lol9;</TRACKINGID></POSTBACK>"
)
QUADRATIC = (
    f'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "{"x" * 20000}">]>'
    f"<POSTBACK><TEXT>{'&a;' * 2000}</TEXT></POSTBACK>"
)
EXTERNAL = (
    '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<POSTBACK><ORIGIN>SMS_MT</ORIGIN><CODE>N202</CODE><TRACKINGID>&x;</TRACKINGID></POSTBACK>"
)
DTD_ONLY = (
    '<?xml version="1.0"?><!DOCTYPE POSTBACK SYSTEM "http://127.0.0.1:9/p.dtd">'
    "<POSTBACK><ORIGIN>SMS_MT</ORIGIN><CODE>N202</CODE><TRACKINGID>t</TRACKINGID></POSTBACK>"
)
MO_BAD_FROM = (
    "<POSTBACK><ORIGIN>SMS_MO</ORIGIN><CODE>N211</CODE><FROM>4474001234567890123</FROM>"
    "<TO>00000</TO><TEXT>STOP</TEXT></POSTBACK>"
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path) as served:
        yield served


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the many refusals that never reach the sink nor count a metric read;
    behind a "proxy" (loopback is trusted), so each case is its own client address and
    the failed-auth limit (tests/daemon/test_auth_limit.py) never answers one of them."""
    trusted = "server:\n  trusted_proxies: [127.0.0.1]\n"
    with serving(tmp_path_factory.mktemp("hooks"), extra=trusted) as served:
        yield served


CLIENTS = itertools.count(1)


def assert_refused(served: Served, answer_status: int, status: int, text: str = "") -> None:
    assert answer_status == status, text
    assert served.sink.calls == 0
    assert served.alive()


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status"),
    [
        ("/hooks/sky/receipts", BILLION_LAUGHS, XML, 400),
        ("/hooks/sky/receipts", QUADRATIC, XML, 400),
        ("/hooks/sky/receipts", EXTERNAL, XML, 400),
        ("/hooks/sky/receipts", DTD_ONLY, XML, 400),
        ("/hooks/sky/receipts", "<POSTBACK><ORIGIN>SMS_MT", XML, 400),
        ("/hooks/sky/receipts", b"<POSTBACK><TEXT>\xff\xfe</TEXT></POSTBACK>", XML, 400),
        ("/hooks/sky/receipts", "<NOTPOSTBACK/>", XML, 400),
        ("/hooks/sky/inbound", MO_BAD_FROM, XML, 400),
        ("/hooks/sky/receipts", "\x00\x01garbage", XML, 400),
        ("/hooks/sky/receipts", "<POSTBACK/>", JSON, 415),
        ("/hooks/sky/receipts", "<POSTBACK/>", "text/plain", 415),
        ("/hooks/ot/receipts", "[" * 5000 + "]" * 5000, JSON, 400),
        ("/hooks/ot/receipts", '{"a":' * 100 + "1" + "}" * 100, JSON, 400),
        ("/hooks/ot/receipts", b'{"message_id": "\xc3", "status": "delivered"}', JSON, 400),
        ("/hooks/ot/receipts", '{"message_id": 1' + "0" * 5000 + ', "status": "x"}', JSON, 400),
        ("/hooks/ot/receipts", "not json at all", JSON, 400),
        ("/hooks/ot/receipts", "[]", JSON, 400),
        ("/hooks/ot/receipts", '"a string"', JSON, 400),
        ("/hooks/ot/receipts", '{"message_id": "m", "status": "maybe"}', JSON, 400),
        ("/hooks/ot/receipts", '{"message_id": "m", "status": "delivered"}', FORM, 415),
        ("/hooks/ot/receipts", "{}", "application/json; charset=latin-1", 415),
        ("/hooks/ot/receipts", "{}", "", 415),
        ("/hooks/ot/inbound", json.dumps({"from": "555", "to": "x", "text": "STOP"}), JSON, 400),
    ],
)
def test_hostile_bodies_are_clean_4xx_and_never_reach_the_sink(
    served: Served, path: str, body: str | bytes, content_type: str, status: int
) -> None:
    answer = served.post(path, body, content_type, headers=BEARER)
    assert_refused(served, answer.status_code, status, answer.text)
    reason = answer.json()["error"]
    assert len(reason) < 200
    assert "passwd" not in reason
    assert "447400" not in reason


def test_a_number_in_a_refused_body_is_never_echoed(served: Served) -> None:
    body = json.dumps({"from": NUMBER + "99999", "to": "x", "text": "STOP"})
    answer = served.post("/hooks/ot/inbound", body, JSON, headers=BEARER)
    assert_refused(served, answer.status_code, 400)
    assert "447400" not in answer.text


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/hooks/sky/receipts", {}),
        ("/hooks/sky/receipts", {"authorization": "Bearer wrong"}),
        ("/hooks/sky/receipts?token=wrong", {}),
        ("/hooks/sky/receipts?token=", {}),
        ("/hooks/sky/receipts", {"authorization": f"Basic {TOKEN}"}),
        ("/hooks/sky/receipts?token=" + TOKEN[:-1], {}),
        ("/hooks/sky/receipts?token=" + TOKEN + "x", {}),
    ],
)
def test_a_missing_or_wrong_token_is_401(
    served: Served, path: str, headers: dict[str, str]
) -> None:
    valid = (
        "<POSTBACK><ORIGIN>SMS_MT</ORIGIN><CODE>N202</CODE><TRACKINGID>t</TRACKINGID></POSTBACK>"
    )
    answer = served.post(path, valid, XML, headers=headers)
    assert_refused(served, answer.status_code, 401)
    assert TOKEN not in answer.text
    labels = {"provider": "sky", "kind": "receipts", "outcome": "unauthorized"}
    assert served.metric("smsops_hooks_total", labels) == 1


def test_bad_twilio_signatures_are_401(served: Served) -> None:
    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    body = urlencode(params)
    right = f"{PUBLIC}/hooks/tw/receipts"
    cases = [
        {},  # none
        {"x-twilio-signature": "AAAA"},
        {"x-twilio-signature": twilio_signature(right, params.items(), "another-token")},
        # signed for the URL the request reached (its Host): never what is checked
        {
            "x-twilio-signature": twilio_signature(
                served.base + "/hooks/tw/receipts", params.items(), TWILIO_TOKEN
            )
        },
        {
            "x-twilio-signature": twilio_signature(
                f"{PUBLIC}/hooks/tw/inbound", params.items(), TWILIO_TOKEN
            )
        },
        {
            "x-twilio-signature": twilio_signature(
                right, {"MessageSid": "SM2"}.items(), TWILIO_TOKEN
            )
        },
    ]
    for headers in cases:
        answer = served.post(
            "/hooks/tw/receipts", body, FORM, headers=headers | {"host": "smsops.example.test"}
        )
        assert_refused(served, answer.status_code, 401, answer.text)
    good = {"x-twilio-signature": twilio_signature(right, params.items(), TWILIO_TOKEN)}
    assert served.post("/hooks/tw/receipts", body, FORM, headers=good).status_code == 200


def test_a_twilio_form_of_too_many_fields_or_bad_utf8_is_401_it_cannot_be_signed(
    served: Served,
) -> None:
    """Such a body carries no signature that could match: an unauthenticated caller is
    not told how its body was read (a 400 would)."""
    for body in ("&".join(f"f{i}=1" for i in range(500)), b"Body=%ff&From=x"):
        answer = served.post("/hooks/tw/receipts", body, FORM, headers={"x-twilio-signature": "x"})
        assert_refused(served, answer.status_code, 401, answer.text)


def raw(served: Served, head: bytes, chunks: Iterator[bytes]) -> bytes:
    """Send a request head and body chunks as far as the server lets it; its answer."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                if readable(sock):
                    break  # answered already
                sock.sendall(chunk)
        except OSError:
            pass  # closed after answering: read what it said
        answer = b""
        try:
            while len(answer) < 4096:
                data = sock.recv(4096)
                if not data:
                    break
                answer += data
        except OSError:
            pass
    return answer


def head(path: str, extra: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TOKEN}\r\n{extra}\r\n"
    ).encode()


def test_a_body_declared_over_the_cap_is_413_before_it_is_read(served: Served) -> None:
    answer = raw(served, head("/hooks/ot/receipts", "Content-Length: 1073741824\r\n"), iter(()))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert_refused(served, 413, 413)


def test_a_body_over_the_cap_without_its_length_is_413(served: Served) -> None:
    def chunked() -> Iterator[bytes]:
        piece = b"[" + b" " * 8190
        for _ in range(10_000):  # 80 MB if nobody stopped it
            yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"

    answer = raw(served, head("/hooks/ot/receipts", "Transfer-Encoding: chunked\r\n"), chunked())
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert_refused(served, 413, 413)
    labels = {"provider": "ot", "kind": "receipts", "outcome": "too_large"}
    assert served.metric("smsops_hooks_total", labels) == 1


def test_a_body_longer_than_its_content_length_claims_is_cut_at_the_length(
    served: Served,
) -> None:
    body = b'{"message_id": "m", "status": "delivered"}'
    extra = f"Content-Length: {len(body)}\r\n"
    answer = raw(served, head("/hooks/ot/receipts", extra), iter([body + b" " * (MAX_BODY * 4)]))
    # The declared length is the body; the rest is a bad next request, which the front door
    # refuses after the receipt's answer (HTTP/1.1 answers in request order)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert b'"applied":1' in answer
    assert [r.message_id for r in served.sink.receipts_seen] == ["m"]
    assert served.alive()


def test_just_under_the_cap_is_read(served: Served) -> None:
    body = json.dumps({"message_id": "m", "status": "delivered"}).encode()
    body = body + b" " * (MAX_BODY - len(body))
    assert served.post("/hooks/ot/receipts", body, JSON, headers=BEARER).status_code == 200
    over = body + b" "
    assert served.post("/hooks/ot/receipts", over, JSON, headers=BEARER).status_code == 413


def test_unknown_ids_are_the_sinks_business(served: Served) -> None:
    body = json.dumps({"message_id": "never-sent-" + "x" * 50, "status": "delivered"})
    assert served.post("/hooks/ot/receipts", body, JSON, headers=BEARER).status_code == 200
    assert served.sink.calls == 1


def test_wrong_methods_and_paths_touch_nothing(served: Served) -> None:
    import httpx

    with httpx.Client(base_url=served.base, timeout=5) as client:
        assert client.get("/hooks/sky/receipts").status_code == 405
        assert client.post("/hooks/sky/other", content=b"x").status_code == 404
        assert client.post("/hooks/../healthz", content=b"x").status_code in (404, 405)
    assert_refused(served, 401, 401)


HOOK_ROUTES = [
    f"/hooks/{provider}/{kind}"
    for provider in ("sky", "ot", "aoc", "tw")
    for kind in ("receipts", "inbound")
]


@pytest.mark.parametrize("path", HOOK_ROUTES)
@pytest.mark.parametrize(
    "credentials",
    [{}, {"authorization": "Bearer wrong"}, {"x-twilio-signature": "AAAA"}],
    ids=["none", "wrong-token", "wrong-signature"],
)
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", "x"),
        ("application/json; charset=latin-1", "{}"),
        (JSON, "[" * 5000),
        (FORM, b"Body=%ff&" + b"&".join(b"f%d=1" % i for i in range(500))),
        (XML, BILLION_LAUGHS),
    ],
    ids=["type", "charset", "deep-json", "bad-form", "xml-bomb"],
)
def test_authentication_comes_before_the_type_and_the_body_on_every_hook_route(
    shared: Served, path: str, credentials: dict[str, str], content_type: str, body: str | bytes
) -> None:
    """An unauthenticated client learns nothing of what the route accepts: whatever its
    Content-Type or body, a wrong or missing token (or Twilio signature) is 401 first."""
    n = next(CLIENTS)
    client = {"x-forwarded-for": f"198.51.{n // 256}.{n % 256}"}
    answer = shared.post(path, body, content_type, headers=credentials | client)
    assert_refused(shared, answer.status_code, 401, answer.text)
    assert "take" not in answer.json()["error"]  # never "this hook takes application/json"
