"""apply's transport tells truthfully whether a request may have reached the provider."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from smsops.engine.transport import Transport
from smsops.providers.base import Retryable, Uncertain, transport_error


async def _post(url: str, timeout: float = 5.0) -> httpx.Response:
    async with httpx.AsyncClient(transport=Transport(max_connections=2)) as client:
        return await client.post(url, json={"to": "x"}, timeout=timeout)


def _outcome(url: str, timeout: float = 5.0) -> object:
    try:
        asyncio.run(_post(url, timeout))
    except httpx.TransportError as exc:
        return transport_error(exc)
    raise AssertionError("no error")


def _server(behaviour: str) -> tuple[socket.socket, threading.Thread]:
    """A one-shot loopback server that reads the request, then hangs up or stays silent."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            if behaviour == "silent":
                conn.recv(65536)  # until the client gives up
            elif behaviour == "half":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def test_a_refused_connection_was_certainly_not_sent() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        result = _outcome(f"http://127.0.0.1:{port}/sms")
    assert isinstance(result, Retryable)
    assert "ConnectError" in result.reason


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [("close", "RemoteProtocolError"), ("half", "ReadError"), ("silent", "ReadTimeout")],
)
def test_a_failure_after_the_request_left_is_uncertain(behaviour: str, error: str) -> None:
    listener, thread = _server(behaviour)
    with listener:
        port = listener.getsockname()[1]
        result = _outcome(f"http://127.0.0.1:{port}/sms", timeout=0.5)
        thread.join(timeout=5)
    assert isinstance(result, Uncertain)
    assert error in result.reason


def test_an_answer_is_read_whole() -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b'HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\n{"ok":true}')

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with listener:
        response = asyncio.run(_post(f"http://127.0.0.1:{listener.getsockname()[1]}/sms"))
        thread.join(timeout=5)
    assert (response.status_code, response.json()) == (201, {"ok": True})


def test_an_aiohttp_error_quoting_a_keyed_url_is_scrubbed() -> None:
    """aiohttp quotes URLs in its messages; a base_url may carry a `${env:...}` key."""
    import aiohttp

    from smsops.core import envref
    from smsops.engine.transport import honest

    url = envref.resolve("http://127.0.0.1:9/sms?key=${env:K}", {"K": "url-SECRET-5e6f"}, "p")
    request = httpx.Request("POST", url)
    cause = aiohttp.InvalidURL(url)
    assert "url-SECRET-5e6f" in str(cause)
    error = honest(cause, request)
    assert isinstance(error, httpx.ReadError)
    assert "url-SECRET-5e6f" not in str(error)
    assert "key=***" in str(error)


ANSWER = b'HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\n{"ok":true}'


def _answering(tls: ssl.SSLContext | None = None) -> tuple[socket.socket, threading.Thread]:
    """A one-shot loopback server (TLS when given a context) answering 201 `{"ok":true}`."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with tls.wrap_socket(conn, server_side=True) if tls else conn as stream:
                stream.recv(65536)
                stream.sendall(ANSWER)
        except (ssl.SSLError, OSError):  # the client refused our certificate
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def test_plain_http_never_builds_a_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """The certificate store costs ~30 ms at start; the sandbox (http://) never needs it."""
    built: list[object] = []
    real = httpx.create_ssl_context
    monkeypatch.setattr(httpx, "create_ssl_context", lambda **kw: built.append(kw) or real(**kw))
    listener, thread = _answering()
    with listener:
        response = asyncio.run(_post(f"http://127.0.0.1:{listener.getsockname()[1]}/sms"))
        thread.join(timeout=5)
    assert response.status_code == 201
    assert built == []


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made with the openssl tool."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def _https_outcome(cert: Path, key: Path) -> object:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    listener, thread = _answering(tls)
    with listener:
        try:
            response = asyncio.run(_post(f"https://127.0.0.1:{listener.getsockname()[1]}/sms"))
        except httpx.TransportError as exc:
            return exc
        finally:
            thread.join(timeout=5)
    return response.status_code, response.json()


def test_https_trusts_the_certificates_named_by_ssl_cert_file(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    assert _https_outcome(*certificate) == (201, {"ok": True})


def test_https_refuses_an_unknown_certificate_before_sending(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verification fails in the handshake, before the request leaves: retryable."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    error = _https_outcome(*certificate)
    assert isinstance(error, httpx.ConnectError)
    assert "certificate verify failed" in str(error)
    assert isinstance(transport_error(error), Retryable)


def test_a_cookie_a_provider_sets_is_never_sent_back() -> None:
    """Requests leave as the adapters built them: nothing a response said is added."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            with conn:
                seen.append(conn.recv(65536))
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nSet-Cookie: lb=sticky-1; Path=/\r\n"
                    b"Connection: close\r\nContent-Length: 2\r\n\r\n{}"
                )

    async def twice(url: str) -> None:
        async with Transport(max_connections=2) as transport:
            for _ in range(2):
                request = httpx.Request("POST", url, json={"to": "x"})
                assert (await transport.handle_async_request(request)).status_code == 200

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with listener:
        asyncio.run(twice(f"http://localhost:{listener.getsockname()[1]}/sms"))
        thread.join(timeout=5)
    assert len(seen) == 2
    assert all(b"sticky-1" not in request for request in seen)
