"""What each command imports before it answers: every command a user types starts with it.

Start time is measured in bench/cold_start.py (against an older revision,
`--against`); here, without timing anything, each command is run in a fresh
interpreter and the modules it loaded are compared with what it must not
need. A module on a list is one that cost a command milliseconds it had no
use for (issue 19, item 11); import it inside the function that needs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Run a command as `smsops` would, then write the names of the loaded modules.
PROBE = """
import json, sys
from smsops.cli import main
out, argv = sys.argv[1], sys.argv[2:]
try:
    main(argv)
except SystemExit:
    pass
with open(out, "w") as f:
    json.dump(sorted(sys.modules), f)
"""

# Never needed to check a config: outbound HTTP, the daemon's server and
# metrics, PostgreSQL, colour output. (pydantic-settings, which reads the
# SMSOPS_* variables, is the project's chosen library and stays: its import
# brings asyncio and dotenv, ~35 ms of validate and plan; see benchmarks §12.)
NOT_FOR_VALIDATE = [
    "aiohttp",
    "apscheduler",
    "httpx",
    "prometheus_client",
    "psycopg",
    "regex",
    "rich",
    "starlette",
    "uvicorn",
    "smsops.ledger.base",
    "smsops.ledger.sqlite",
]
# A plan reads the config, the audiences and the ledger, shows it (rich) and sends nothing.
NOT_FOR_PLAN = [n for n in NOT_FOR_VALIDATE if not n.startswith("smsops.ledger") and n != "rich"]
NOT_FOR_PLAN += ["smsops.engine.round", "smsops.engine.apply", "smsops.engine.transport"]
# --help builds the argument parser only: none of the above, no config
# models, no templates, no phone numbers, no ledger (ledger.policy, a table
# without I/O, names the statuses that --status offers).
NOT_FOR_HELP = [
    *NOT_FOR_VALIDATE,
    "asyncio",
    "dotenv",
    "pydantic_settings",
    "jinja2",
    "phonenumbers",
    "pydantic",
    "ruamel",
    "cronsim",
    "smsops.config.models",
    # standard modules of 1-3 ms each that only a resolved secret (base64, html), an
    # uncaught error (traceback), threads or a --at time (smsops.core.units) need
    "base64",
    "html",
    "threading",
    "traceback",
    "smsops.core.units",
]


def loaded(tmp_path: Path, *argv: str) -> set[str]:
    out = tmp_path / "modules.json"
    ledger = str(tmp_path / "ledger.sqlite")  # `plan` reads it (it does not create it)
    subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *(ledger if a == "LEDGER" else a for a in argv)],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=120,
        env={**os.environ, "SMSOPS_CACHE_DIR": str(tmp_path / "cache")},
    )
    return set(json.loads(out.read_text()))


def heavy(modules: set[str], names: list[str]) -> list[str]:
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


@pytest.mark.parametrize(
    ("argv", "forbidden"),
    [
        (["--help"], NOT_FOR_HELP),
        (["plan", "--help"], NOT_FOR_HELP),
        (["ledger", "list", "--help"], NOT_FOR_HELP),
        (["validate", str(ROOT / "examples" / "configs")], NOT_FOR_VALIDATE),
        (["plan", str(ROOT / "examples" / "configs"), "--ledger", "LEDGER"], NOT_FOR_PLAN),
    ],
    ids=["help", "plan-help", "ledger-list-help", "validate", "plan"],
)
def test_a_command_imports_only_what_it_uses(
    tmp_path: Path, argv: list[str], forbidden: list[str]
) -> None:
    modules = loaded(tmp_path, *argv)
    assert "smsops.cli" in modules  # the probe did run the command
    assert heavy(modules, forbidden) == []
