"""Attacks on `smsops run`: secrets it cannot have, rounds that raise, what its logs say.

Each case starts the daemon in the background (its own session, capped like
`run_cli`, the harness's secrets in its environment, every provider on the
loopback sandbox), provokes the fault, stops it with SIGTERM and holds all it
logged to `Outcome.assert_safe`: exit 0 after SIGTERM, the fault located, no
traceback, no secret, no full number, nothing from outside the config.
"""

from __future__ import annotations

import hashlib
import os
import resource
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from smsops.sandbox.server import Sandbox
from tests.attacks.harness import (
    BASE_NUMBERS,
    MEMORY_MB,
    OUTSIDE,
    SECRETS,
    Outcome,
    write_config,
)
from tests.daemon.daemon import Daemon, running, until


def attack_env(cwd: Path, extra: dict[str, str]) -> dict[str, str]:
    """What `run_cli` gives a command: the secrets, the outside marker, nothing else."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),
        "SMSOPS_CACHE_DIR": str(cwd / ".cache"),
        "NO_COLOR": "1",
        "ATTACK_OUTSIDE": OUTSIDE,
        **SECRETS,
        **extra,
    }


def capped() -> None:
    limit = MEMORY_MB * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def providers(sandbox: Sandbox, token: str = "${env:OT_JWT}", url: str | None = None) -> str:
    base = url or sandbox.base_url("opentact")
    return (
        "providers:\n"
        f"  ot:\n    type: opentact\n    base_url: '{base}'\n    token: '{token}'\n"
        "    from: '+12017771234'\n"
        f"  sky:\n    type: skycore\n    base_url: '{sandbox.base_url('skycore')}'\n"
        "    api_key: '${env:SKY_KEY}'\n    from: '12025550100'\n"
    )


CONTACTS = "".join(f"      - {{phone: '{n}', name: P{i}}}\n" for i, n in enumerate(BASE_NUMBERS))
CSV_ROWS = "phone,name\n" + "".join(f"{n},P{i}\n" for i, n in enumerate(BASE_NUMBERS))


def rest(schedule: str, audience: str = "people") -> str:
    return (
        "templates:\n  hello: {category: transactional, body: 'Hi {{ name }}'}\n"
        f"audiences:\n  people:\n    contacts:\n{CONTACTS}"
        + ("  listed: {source: people.csv}\n" if audience == "listed" else "")
        + f"schedules:\n  greet: {{template: hello, audience: {audience}, {schedule}}}\n"
    )


def readyz_fails(daemon: Daemon, config: Path) -> None:
    until(lambda: daemon.get("/readyz")[0] == 503)


def round_fails(fault: Callable[[Path], None]) -> Callable[[Daemon, Path], None]:
    """Once the schedule has sent, `fault` the config's files; wait for /healthz degraded."""

    def act(daemon: Daemon, config: Path) -> None:
        until(lambda: daemon.metric('smsops_sends_total{provider="ot",status="sent"}') is not None)
        fault(config)
        until(lambda: daemon.json("/healthz")["status"] == "degraded")
        assert "greet" in daemon.json("/healthz")["failing"]

    return act


def snapshot_copy(config: Path) -> Path:
    """The copy of people.csv a generation reads (`smsops.core.snapshots`), not the live file."""
    digest = hashlib.sha256(CSV_ROWS.encode()).hexdigest()
    (copy,) = (config.parent / ".cache" / "snapshots").glob(f"run-*/{digest}")
    return copy


def copy_gone(config: Path) -> None:
    (config / "people.csv").unlink()  # the live file: rounds never read it
    snapshot_copy(config).unlink()


def copy_is_a_directory(config: Path) -> None:
    copy = snapshot_copy(config)
    copy.unlink()
    copy.mkdir()


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str]
    act: Callable[[Daemon, Path], None]
    located: str
    env: dict[str, str] = field(default_factory=dict)
    sends: int | None = 0  # messages the sandbox may receive (None: any)


EVERY = "provider: ot, trigger: {every: 1s}, window: 1s"


def cases(sandbox: Sandbox) -> list[Case]:
    return [
        Case(
            "secret-not-set",
            {
                "p.yaml": providers(sandbox, token="${env:NOT_SET_ANYWHERE}"),
                "r.yaml": rest("provider: ot"),
            },
            readyz_fails,
            r"config/p\.yaml:5:12: provider 'ot' needs the environment variable NOT_SET_ANYWHERE",
        ),
        Case(
            "secret-set-but-empty",
            {"p.yaml": providers(sandbox), "r.yaml": rest("provider: ot")},
            readyz_fails,
            r"config/p\.yaml:5:12: provider 'ot' needs the environment variable OT_JWT",
            env={"OT_JWT": ""},
        ),
        Case(
            "failover-to-a-provider-without-its-secret",
            {"p.yaml": providers(sandbox), "r.yaml": rest("provider: [sky, ot]")},
            readyz_fails,
            r"config/p\.yaml:5:12: provider 'ot' needs the environment variable OT_JWT",
            env={"OT_JWT": ""},
        ),
        Case(
            "secret-inside-an-unparseable-url",
            {
                # the whole URL from the environment, a key inside it
                "p.yaml": providers(sandbox, url="${env:OT_URL}"),
                "r.yaml": rest("provider: ot"),
            },
            lambda daemon, config: until(lambda: "failing" in daemon.json("/healthz")),
            r"round failed \[start\]: greet: provider 'ot': its base_url is not a valid URL "
            r".*Invalid IPv6 address: '\[?\*\*\*\]?'",
            env={"OT_URL": f"http://[{SECRETS['SKY_KEY']}]"},
        ),
        Case(
            "audience-csv-snapshot-deleted-mid-run",
            {"p.yaml": providers(sandbox), "r.yaml": rest(EVERY, "listed"), "people.csv": CSV_ROWS},
            round_fails(copy_gone),
            # the start round, when a loaded machine runs it late, may be the one to meet it
            r"round failed \[(?:fire|start)\]: greet: \S*config/r\.yaml:\d+:\d+: CSV file "
            r"\S*people\.csv': "
            r"the copy of this file taken when the config was loaded \(\S*\) is missing",
            sends=None,
        ),
        Case(
            "audience-csv-snapshot-replaced-by-a-directory",
            {"p.yaml": providers(sandbox), "r.yaml": rest(EVERY, "listed"), "people.csv": CSV_ROWS},
            round_fails(copy_is_a_directory),
            # the start round, when a loaded machine runs it late, may be the one to meet it
            r"round failed \[(?:fire|start)\]: greet: \S*config/r\.yaml:\d+:\d+: CSV file "
            r"\S*people\.csv': "
            r"the copy of this file taken when the config was loaded \(\S*\) is no longer a regular",
            sends=None,
        ),
    ]


CASE_IDS = [
    "secret-not-set",
    "secret-set-but-empty",
    "failover-to-a-provider-without-its-secret",
    "secret-inside-an-unparseable-url",
    "audience-csv-snapshot-deleted-mid-run",
    "audience-csv-snapshot-replaced-by-a-directory",
]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_run_attack(case_id: str, tmp_path: Path, sandbox: Sandbox) -> None:
    [case] = [c for c in cases(sandbox) if c.id == case_id]
    config = write_config(tmp_path, case.files)
    ledger = tmp_path / "ledger.sqlite"
    env = attack_env(tmp_path, case.env)
    # No reload while a test changes files: the round itself must meet the fault.
    with running(config, ledger, env, reload_interval=3600, preexec_fn=capped) as daemon:
        case.act(daemon, config)
    code = -1 if daemon.code is None else daemon.code
    outcome = Outcome(("run", str(config)), code, "", daemon.stderr, daemon.seconds)
    outcome.assert_safe(code=0, located=case.located, numbers=BASE_NUMBERS, ledger=ledger)
    if case.sends is not None:
        assert len(sandbox.state.snapshot()) == case.sends
    # one line per record: every line starts with its time
    assert all(line[:4].isdigit() for line in outcome.stderr.splitlines() if line), outcome.stderr
