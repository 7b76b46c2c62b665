"""`smsops run` when things go wrong: missing secrets, rounds that raise, recovery."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from smsops.sandbox.server import Sandbox
from tests.daemon.daemon import running, until

NUMBERS = [f"+44740012345{i}" for i in range(3)]
SECRET = "jwt-SECRET-3c9e"


def providers(sandbox: Sandbox, ot_token: str = "OT", ot2_token: str = "OT2") -> str:
    url = sandbox.base_url("opentact")
    return (
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{url}', token: '${{env:{ot_token}}}', "
        "from: '+12017771234'}\n"
        f"  ot2: {{type: opentact, base_url: '{url}', token: '${{env:{ot2_token}}}', "
        "from: '+12017771234'}\n"
    )


def write(root: Path, providers_yaml: str, schedules: str, audience: str | None = None) -> None:
    contacts = ", ".join(f"{{phone: '{n}', name: P{i}}}" for i, n in enumerate(NUMBERS))
    audience = audience or f"{{contacts: [{contacts}]}}"
    (root / "smsops.yaml").write_text(
        providers_yaml
        + "templates:\n  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        + f"audiences:\n  a: {audience}\n"
        + "schedules:\n"
        + schedules
    )


def env(**variables: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("OT", "OT2")}
    return {**base, "SMSOPS_LOG_FORMAT": "json", **variables}


def sent_by(sandbox: Sandbox, count: int) -> None:
    until(lambda: len(sandbox.state.snapshot()) == count)


TWO = (
    "  first: {template: t, audience: a, provider: ot}\n"
    "  second: {template: t, audience: a, provider: [ot, ot2]}\n"
)


def test_a_secret_missing_at_start_holds_its_schedules_until_a_reload_names_a_set_one(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    root = tmp_path / "config"
    root.mkdir()
    write(root, providers(sandbox), TWO)
    with running(root, tmp_path / "l.sqlite", env(OT=SECRET)) as daemon:
        sent_by(sandbox, 3)  # `first` needs only OT: it sends
        assert daemon.get("/readyz")[0] == 503
        detail = daemon.json("/readyz")["detail"]
        assert "provider 'ot2' needs the environment variable OT2" in detail
        assert "smsops.yaml:3:" in detail  # where the reference is written
        assert "second" in detail
        assert daemon.json("/healthz")["status"] == "ok"  # alive: a restart would not help
        missing = [e for e in daemon.log_entries() if e["message"].startswith("secret missing")]
        assert [(e["provider"], e["variable"]) for e in missing] == [("ot2", "OT2")]
        assert {m["recipient"] for m in sandbox.state.snapshot()} == set(NUMBERS)

        # The config now names a variable that is set: `second` is released and sends.
        write(root, providers(sandbox, ot2_token="OT"), TWO)
        sent_by(sandbox, 6)
        until(lambda: daemon.get("/readyz")[0] == 200)
    assert daemon.code == 0
    assert SECRET not in daemon.stderr
    assert "Traceback" not in daemon.stderr
    assert all(n not in daemon.stderr for n in NUMBERS)


def test_a_restart_with_the_variable_set_recovers(tmp_path: Path, sandbox: Sandbox) -> None:
    root = tmp_path / "config"
    root.mkdir()
    write(root, providers(sandbox), "  second: {template: t, audience: a, provider: ot2}\n")
    ledger = tmp_path / "l.sqlite"
    with running(root, ledger, env(OT=SECRET)) as daemon:
        until(lambda: daemon.get("/readyz")[0] == 503)
        assert daemon.json("/readyz")["ready"] is False
    assert sandbox.state.snapshot() == []  # no send was attempted
    with running(root, ledger, env(OT=SECRET, OT2=SECRET)) as daemon:
        sent_by(sandbox, 3)
        assert daemon.get("/readyz")[0] == 200
    assert daemon.code == 0


def test_a_reload_that_names_an_unset_variable_makes_readyz_fail(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    root = tmp_path / "config"
    root.mkdir()
    write(root, providers(sandbox), "  first: {template: t, audience: a, provider: ot}\n")
    with running(root, tmp_path / "l.sqlite", env(OT=SECRET, OT2=SECRET)) as daemon:
        sent_by(sandbox, 3)
        assert daemon.get("/readyz")[0] == 200
        # `ot` now names GONE, which is not set; a new `once` schedule through it.
        write(
            root,
            providers(sandbox, ot_token="GONE"),
            "  first: {template: t, audience: a, provider: ot}\n"
            "  later: {template: t, audience: a, provider: ot}\n",
        )
        until(lambda: daemon.get("/readyz")[0] == 503)
        assert "GONE" in daemon.json("/readyz")["detail"]
        assert daemon.json("/healthz")["generation"] == 2  # the change itself is valid
    assert len(sandbox.state.snapshot()) == 3  # `later` was never attempted
    missing = [e for e in daemon.log_entries() if e["message"].startswith("secret missing")]
    assert [e["variable"] for e in missing] == ["GONE"]
    assert SECRET not in daemon.stderr


def test_a_round_that_raises_is_one_masked_line_counted_degraded_then_recovers(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    root = tmp_path / "config"
    root.mkdir()
    csv = root / "people.csv"
    rows = "phone,name\n" + "".join(f"{n},P{i}\n" for i, n in enumerate(NUMBERS))
    csv.write_text(rows)
    write(
        root,
        providers(sandbox),
        "  tick: {template: t, audience: a, provider: ot, trigger: {every: 1s}, window: 1s}\n",
        audience="{source: people.csv}",
    )
    failures = 'smsops_round_failures_total{schedule="tick"}'
    # Rounds read the CSV's snapshot (smsops.core.snapshots): losing that copy is the fault.
    digest = hashlib.sha256(rows.encode()).hexdigest()
    snapshots = Path(os.environ["SMSOPS_CACHE_DIR"]) / "snapshots"
    with running(root, tmp_path / "l.sqlite", env(OT=SECRET), reload_interval=3600) as daemon:
        until(lambda: len(sandbox.state.snapshot()) >= 3)
        (copy,) = snapshots.glob(f"run-*/{digest}")
        copy.unlink()
        until(lambda: daemon.json("/healthz")["status"] == "degraded")
        health = daemon.json("/healthz")
        assert "people.csv" in health["failing"]["tick"]
        assert "is missing" in health["failing"]["tick"]
        assert "error" not in health  # not a refused config change
        assert (daemon.metric(failures) or 0) >= 1
        copy.write_text(rows)  # the very content validated: accepted again
        until(lambda: daemon.json("/healthz")["status"] == "ok")
        assert "failing" not in daemon.json("/healthz")
        count = daemon.metric(failures) or 0
        sent = len(sandbox.state.snapshot())
        until(lambda: len(sandbox.state.snapshot()) > sent)  # sends again
        assert daemon.metric(failures) == count  # and fails no more
    assert daemon.code == 0
    lines = [e for e in daemon.log_entries() if e["message"].startswith("round failed")]
    assert lines, daemon.stderr
    assert lines[0]["message"].startswith("round failed [fire]: tick: ")
    assert lines[0]["schedules"] == "tick"
    assert "traceback" not in lines[0]  # only with SMSOPS_LOG_LEVEL=debug
    assert any(
        e["message"] == "schedule tick recovered: its round succeeded" for e in daemon.log_entries()
    )
    assert "Traceback" not in daemon.stderr
    assert all(n not in daemon.stderr for n in NUMBERS)
    assert all(line.startswith("{") for line in daemon.stderr.splitlines())  # one line each
