"""`smsops run --sandbox` points the sandbox's callbacks at the run server's own /hooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from smsops.core.envref import Placeholders
from smsops.engine.project import load_project, pointed_at
from smsops.sandbox.loop import Target
from smsops.sandbox.wiring import hooked, loopback_base

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "receipts"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("0.0.0.0", "http://127.0.0.1:8080"),
        ("127.0.0.1", "http://127.0.0.1:8080"),
        ("127.0.0.2", "http://127.0.0.2:8080"),
        ("localhost", "http://127.0.0.1:8080"),
        ("::", "http://[::1]:8080"),
        ("::1", "http://[::1]:8080"),
        ("10.1.2.3", None),  # the sandbox posts to loopback only
        ("example.test", None),
    ],
)
def test_the_run_servers_loopback_url(host: str, url: str | None) -> None:
    assert loopback_base(host, 8080) == url


def test_hooks_point_at_the_run_server_with_the_runs_secrets(tmp_path: Path) -> None:
    config = load_project(EXAMPLE, tmp_path)

    def base(kind: str) -> str:
        return f"http://127.0.0.1:9/{kind}"

    pointed, targets = hooked(
        pointed_at(config, base), "http://127.0.0.1:8080", base, Placeholders("ph")
    )
    sky, tw = pointed.providers["sky"], pointed.providers["tw"]
    assert getattr(sky, "base_url") == "http://127.0.0.1:9/skycore/sky"  # noqa: B009
    assert getattr(tw, "status_callback") == "http://127.0.0.1:8080/hooks/tw/receipts"  # noqa: B009
    assert getattr(tw, "inbound_url") == "http://127.0.0.1:8080/hooks/tw/inbound"  # noqa: B009
    assert targets == {
        "sky": Target(
            "skycore",
            "http://127.0.0.1:8080/hooks/sky/receipts?token=ph",
            "http://127.0.0.1:8080/hooks/sky/inbound?token=ph",
        ),
        "tw": Target("twilio", None, "http://127.0.0.1:8080/hooks/tw/inbound", "ph"),
    }
    assert config.providers["tw"] is not pointed.providers["tw"]  # the loaded one is untouched
