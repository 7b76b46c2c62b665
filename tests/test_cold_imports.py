"""What each command imports before it answers: every command a user types starts with it.

Start time is measured in bench/cold_start.py (against an older revision,
`--against`); here, without timing anything, each command is run in a fresh
interpreter and the modules it loaded are compared with what it must not
need. A module on a list is one that cost a command milliseconds it had no
use for (issue 19, item 11); import it inside the function that needs it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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
# metrics, PostgreSQL, colour output. (pydantic-settings reads the SMSOPS_*
# variables; its import brings asyncio and dotenv, ~30 ms: a command loads it
# when one is set, see NOT_WITHOUT_SETTINGS.)
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
    "smsops.ledger.counts",
    "smsops.ledger.records",
    "smsops.ledger.rules",
    "smsops.ledger.sqlite",
    # a provider type examples/configs does not use: its module is imported on demand
    "smsops.providers.twilio",
    # the process pool that normalises a big CSV file's numbers (~7 ms)
    "concurrent.futures.process",
    "multiprocessing",
    # the XML parser of Skycore's postbacks (~1.5 ms): a webhook body is read by `run`
    "defusedxml",
    "xml.etree",
    # the sandbox's emulator types and webhook posters (~4 ms): a provider's EMULATOR is
    # built when the sandbox reads it (providers/registry.emulator_on_demand)
    "smsops.providers.emulation",
    "smsops.providers.skycore_hooks",
    "smsops.providers.twilio_hooks",
    "smsops.providers.hook_fields",
]
# what a receipt is (core.hooks) and a plan's delivery line (ledger.receipts, ledger.policy)
NOT_FOR_VALIDATE_ONLY = ["smsops.core.hooks", "smsops.ledger.receipts", "smsops.ledger.policy"]
# A plan reads the config, the audiences and the ledger, shows it (rich) and sends nothing.
NOT_FOR_PLAN = [n for n in NOT_FOR_VALIDATE if not n.startswith("smsops.ledger") and n != "rich"]
NOT_FOR_PLAN += ["smsops.engine.round", "smsops.engine.apply", "smsops.engine.transport"]
# the sender's parts (engine.apply split along its seams)
NOT_FOR_PLAN += [
    "smsops.engine.apply_settle",
    "smsops.engine.apply_options",
    "smsops.engine.exchange",
]
# the --base diff's models and views (~6 ms): a plan without --base shows no diff
NOT_FOR_PLAN += ["smsops.engine.diff", "smsops.report.diff_format", "smsops.report.diff_markdown"]
# `smsops status` reads the config and the ledger alone: no HTTP stack, no server, no send path.
NOT_FOR_STATUS = [n for n in NOT_FOR_PLAN if n != "rich"]
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
    # uuid imports platform (~1.5 ms): only `send` without --key makes one
    "uuid",
    "platform",
]
# `smsops --help` builds no command's parser: not even the ledger's statuses (ledger.policy)
NOT_FOR_TOP_HELP = [*NOT_FOR_HELP, "smsops.ledger"]


# With no SMSOPS_* variable set, or only text settings (SMSOPS_CACHE_DIR,
# SMSOPS_LEDGER) there is nothing for pydantic-settings to parse or refuse
# (smsops.config.settings): validate and plan take their values without it.
NOT_WITHOUT_SETTINGS = ["pydantic_settings", "dotenv", "asyncio"]


def loaded(tmp_path: Path, *argv: str, settings: str | None = "SMSOPS_CACHE_DIR") -> set[str]:
    """The modules `smsops *argv` loaded; `settings`: the variable set (to the cache), or none."""
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("smsops_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    if settings == "SMSOPS_CACHE_DIR":
        env[settings] = str(tmp_path / "cache")
    elif settings is not None:
        env[settings] = "info"
    ledger = str(tmp_path / "ledger.sqlite")  # `plan` reads it (it does not create it)
    subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *(ledger if a == "LEDGER" else a for a in argv)],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=120,
        env=env,
    )
    return set(json.loads(out.read_text()))


def heavy(modules: set[str], names: list[str]) -> list[str]:
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


@pytest.mark.parametrize(
    ("argv", "forbidden"),
    [
        (["--help"], NOT_FOR_TOP_HELP),
        (["plan", "--help"], NOT_FOR_HELP),
        (["ledger", "list", "--help"], NOT_FOR_HELP),
        (
            ["validate", str(ROOT / "examples" / "configs")],
            [*NOT_FOR_VALIDATE, *NOT_FOR_VALIDATE_ONLY],
        ),
        (["plan", str(ROOT / "examples" / "configs"), "--ledger", "LEDGER"], NOT_FOR_PLAN),
        (["status", str(ROOT / "examples" / "configs"), "--ledger", "LEDGER"], NOT_FOR_STATUS),
    ],
    ids=["help", "plan-help", "ledger-list-help", "validate", "plan", "status"],
)
def test_a_command_imports_only_what_it_uses(
    tmp_path: Path, argv: list[str], forbidden: list[str]
) -> None:
    modules = loaded(tmp_path, *argv)
    assert "smsops.cli" in modules  # the probe did run the command
    assert heavy(modules, forbidden) == []


@pytest.mark.parametrize("settings", [None, "SMSOPS_CACHE_DIR"], ids=["none", "text"])
@pytest.mark.parametrize(
    "argv",
    [
        ["validate", str(ROOT / "examples" / "configs")],
        ["plan", str(ROOT / "examples" / "configs"), "--ledger", "LEDGER"],
    ],
    ids=["validate", "plan"],
)
def test_no_settings_reader_when_nothing_is_set(
    tmp_path: Path, argv: list[str], settings: str | None
) -> None:
    modules = loaded(tmp_path, *argv, settings=settings)
    assert "smsops.cli" in modules
    assert heavy(modules, NOT_WITHOUT_SETTINGS) == []


def test_a_setting_to_check_is_read_by_pydantic_settings(tmp_path: Path) -> None:
    """SMSOPS_LOG_LEVEL is a choice: pydantic-settings reads (and may refuse) it."""
    modules = loaded(
        tmp_path, "validate", str(ROOT / "examples" / "configs"), settings="SMSOPS_LOG_LEVEL"
    )
    assert "pydantic_settings" in modules


@pytest.mark.parametrize(
    ("argv", "parsers"),
    [
        (["--help"], ["smsops"]),
        (["validate", str(ROOT / "examples" / "configs")], ["smsops", "smsops validate"]),
        (["ledger", "list", "--help"], ["smsops", "smsops ledger", "smsops ledger list"]),
    ],
    ids=["help", "validate", "ledger-list-help"],
)
def test_a_command_builds_only_its_own_parser(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], parsers: list[str]
) -> None:
    """Each command's arguments are added when it runs (smsops.cli.subcommands).

    Building every command's parser (26 with their actions) was ~8 ms of each
    start, --help's and validate's alike.
    """
    from smsops.cli import main

    built: list[str] = []
    original = argparse.ArgumentParser.__init__

    def counted(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        built.append(self.prog)

    monkeypatch.setattr(argparse.ArgumentParser, "__init__", counted)
    with contextlib.suppress(SystemExit):
        main(argv)
    # `ledger list --help` builds `ledger`'s actions: `list` and its siblings, none of the others
    assert [p for p in built if p.split()[:2] != ["smsops", "ledger"] or p in parsers] == parsers


# Run validate, then name the config models pydantic has built (their validators made).
BUILT = """
import json, sys
from smsops.cli import main
from smsops.config import models, otp, providers
try:
    main(sys.argv[2:])
except SystemExit:
    pass
names = {**vars(models), **vars(otp), **vars(providers)}
built = [n for n, c in names.items() if getattr(c, "__pydantic_complete__", False)]
with open(sys.argv[1], "w") as f:
    json.dump(sorted(built), f)
"""


def test_validate_builds_no_model_the_config_does_not_use(tmp_path: Path) -> None:
    """A model of a section examples/configs does not write is built when first used.

    pydantic builds a model's validator at import unless told to defer it
    (defer_build): the JSON Schema's sections model, the provider base that
    no entry is validated as, and the api, status, defaults and otp maps
    cost validate ~2 ms it had no use for.
    """
    out = tmp_path / "built.json"
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("smsops_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    argv = ["validate", str(ROOT / "examples" / "configs")]
    subprocess.run(
        [sys.executable, "-c", BUILT, str(out), *argv],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=120,
        env=env,
    )
    built = set(json.loads(out.read_text()))
    assert {"Template", "Schedule", "Audience"} <= built  # the probe did validate
    unused = {"ConfigSections", "ProviderBase", "Api", "StatusAccess", "Defaults", "OtpSettings"}
    assert built & unused == set()
