"""DNS rebinding (docs/security.md#allowed-hosts): a web page whose name an attacker points
at the run server's address can read what the page's origin may read. So the status view,
its login and the API answer only a Host that is an IP literal, `localhost` or a name the
config lists in `server: {hosts}`; anything else gets 421 and nothing of the page. The
probes, /metrics and the webhooks answer any Host (probes and scrapers address a pod by
IP or service name; hooks are posted to the public name and carry their token)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.apiserver import API, BEARER, ENV, ApiServed, api_serving

STATUS_TOKEN = "status-token-0123456789-abcdefghijkl"
PUBLIC = "status:\n  public: true\nserver:\n  hosts: [status.example.com, Ops.Example.org]\n"
GUARDED = [
    ("GET", "/"),
    ("GET", "/status.json"),
    ("GET", "/status.css"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/v1/messages"),
    ("GET", "/v1/messages/k1"),
    ("GET", "/openapi.json"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServed]:
    root = tmp_path_factory.mktemp("hosts")
    with api_serving(root, API + PUBLIC, ENV) as served:
        yield served


@pytest.mark.parametrize(
    "host",
    ["rebound.attacker.example", "status.example.com.attacker.example", "localhost.evil", ""],
)
@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_a_host_nobody_listed_gets_421_and_nothing_of_the_page(
    served: ApiServed, host: str, method: str, path: str
) -> None:
    with served.client(host=host, **BEARER) as client:
        answer = client.request(method, path)
    assert answer.status_code == 421
    assert answer.content == b""
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.1:8080",
        "localhost",
        "LOCALHOST:8080",
        "[::1]:8080",
        "10.20.30.40:8080",  # a pod's IP: what Kubernetes probes and scrapes send
        "status.example.com",
        "STATUS.example.com:443",
        "ops.example.org",
    ],
)
def test_ip_literals_localhost_and_listed_names_are_served(served: ApiServed, host: str) -> None:
    with served.client(host=host, **BEARER) as client:
        assert client.get("/").status_code == 200
        assert client.get("/status.json").status_code == 200
        assert client.get("/openapi.json").status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_and_metrics_answer_any_host(served: ApiServed, path: str) -> None:
    with served.client(host="smsops.monitoring.svc") as client:
        assert client.get(path).status_code in (200, 503)


def test_hooks_answer_their_public_name(tmp_path: Path) -> None:
    from tests.daemon.hookserver import TOKEN, serving

    body = "<POSTBACK><ORIGIN>SMS_MT</ORIGIN><CODE>N202</CODE><TRACKINGID>t</TRACKINGID></POSTBACK>"
    with serving(tmp_path) as served:
        answer = served.post(
            f"/hooks/sky/receipts?token={TOKEN}", body, "text/xml", headers={"host": "hooks.acme"}
        )
    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        ("['https://status.example.com']", "write a host name alone"),
        ("['status.example.com:8080']", "write a host name alone"),
        ("['*.example.com']", "write a host name alone"),
        ("[127.0.0.1]", "IP addresses are always allowed"),
    ],
)
def test_a_wrong_host_name_is_an_error_at_its_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hosts: str, message: str
) -> None:
    from smsops.cli import main
    from tests.daemon.apiserver import PROVIDERS

    (tmp_path / "p.yaml").write_text(PROVIDERS)
    (tmp_path / "s.yaml").write_text(f"server:\n  hosts: {hosts}\n")
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "s.yaml:2:" in err
    assert message in err
