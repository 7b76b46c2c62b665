"""Hostile configs, tried as an attacker would: the CLI in a fresh, bounded process.

Configs arrive in pull requests. Every attack in this folder writes one
into a temporary directory, runs `python -m smsops ...` on it in its own
process (its own session, so nothing it starts outlives it) with an
address-space cap and a wall-clock limit, and then asserts with
`Outcome.assert_safe` what must hold for every hostile input:

- the exit status the contract gives (1 for a refused config);
- a located error when one is expected (`file:line:col` or `file:row N`);
- no Python traceback anywhere in the output;
- it finished within the time limit and under the memory cap (a
  MemoryError shows up as a traceback or a non-zero exit);
- nothing planted outside the config directory appears in any output;
- no secret value (every `${env:...}` this harness sets) in any output or
  in the ledger file;
- no full phone number in any output.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.attacks.zygote import zygote

# Values of the environment variables every attack runs with: a config may
# name them as `${env:...}` secrets; none may ever be printed or stored.
SECRETS: dict[str, str] = {
    "SES_KEY": "ses-SECRET-7f3a9c",
    "SKY_KEY": "sky-SECRET-41d0e2",
    "OT_JWT": "eyJhbGciOiJIUzI1NiJ9.ot-SECRET-b8e1.c2ln",
    "AOC_KEY": "aoc-SECRET-55ce10",
}
# Planted in the environment and in files outside the config directory: a
# config that reads either would quote this text.
OUTSIDE = "OUTSIDE-MARKER-c0ffee"
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s+File \".*\", line \d+", re.M)
MEMORY_MB = 1024
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Outcome:
    """What one CLI run printed, how it ended and how long it took."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def assert_safe(
        self,
        *,
        code: int | None = 1,
        located: str | None = None,
        numbers: Iterable[str] = (),
        ledger: Path | None = None,
        max_seconds: float = TIMEOUT_S,
    ) -> None:
        """Every promise an attack must keep (see the module docstring).

        `located` is a regular expression the output must match, e.g.
        r"people\\.csv:row 3" or r"bomb\\.yaml:\\d+:\\d+"; `numbers` are full
        E.164 numbers the config holds, none of which may be printed.
        """
        shown = f"smsops {' '.join(self.args)} -> {self.code}\n{self.output[-3000:]}"
        assert not TRACEBACK.search(self.output), f"traceback in output:\n{shown}"
        if code is not None:
            assert self.code == code, f"exit status {self.code}, wanted {code}:\n{shown}"
        if located is not None:
            assert re.search(located, self.output), f"no location /{located}/:\n{shown}"
        assert self.seconds < max_seconds, f"took {self.seconds:.1f} s:\n{shown}"
        assert OUTSIDE not in self.output, f"text from outside the config:\n{shown}"
        for name, secret in SECRETS.items():
            assert secret not in self.output, f"secret {name} printed:\n{shown}"
        for number in numbers:
            for spelling in _spellings(number):
                assert spelling not in self.output, f"full number {number} printed:\n{shown}"
        if ledger is not None and ledger.exists():
            stored = b"".join(p.read_bytes() for p in ledger.parent.glob(ledger.name + "*"))
            for name, secret in SECRETS.items():
                assert secret.encode() not in stored, f"secret {name} stored in the ledger"


def _spellings(number: str) -> list[str]:
    digits = number.lstrip("+")
    return [number, digits] if len(digits) >= 8 else [number]


def write_config(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write `files` (name -> text, dedented; or raw bytes) under `root`/config."""
    config = root / "config"
    config.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = config / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content))
    return config


def plant_outside(root: Path) -> Path:
    """A file outside the config directory holding the marker (as a CSV would look)."""
    outside = root / "outside.csv"
    outside.write_text(f"phone,name\n+447400123456,{OUTSIDE}\n")
    return outside


def attack_env(cwd: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every attack runs in: every secret of `SECRETS`, the `OUTSIDE`
    marker (as `/proc/self/environ` would show it), a private cache, no colour."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),
        "SMSOPS_CACHE_DIR": str(cwd / ".cache"),
        "NO_COLOR": "1",
        "ATTACK_OUTSIDE": OUTSIDE,
        **SECRETS,
        **(extra or {}),
    }


def memory_cap(memory_mb: int) -> Callable[[], None]:
    """A `preexec_fn` capping the child's address space at `memory_mb` (set before exec)."""
    limit = memory_mb * 2**20

    def bound() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return bound


def run_cli(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = TIMEOUT_S,
    memory_mb: int = MEMORY_MB,
) -> Outcome:
    """Run `python -m smsops *args` in `cwd` in a fresh process, capped at `memory_mb`.

    The process is forked from a server that has imported smsops (see
    `zygote`: a run costs milliseconds, not the interpreter's start); a new
    interpreter when `env` sets a `PYTHON*` variable (which acts at start)
    or `SMSOPS_TEST_EXEC=1` is set.

    The environment holds every secret of `SECRETS` and the `OUTSIDE`
    marker (as `/proc/self/environ` would show it), a private cache
    directory, and no colour. On timeout the whole process group is killed
    and the test fails.
    """
    started = time.monotonic()
    # A PYTHON* variable (PYTHONPATH to a sitecustomize hook) acts at interpreter start.
    starts_python = any(name.startswith("PYTHON") for name in env or {})
    if os.environ.get("SMSOPS_TEST_EXEC") != "1" and not starts_python:
        try:
            ran = zygote(attack_env(Path(tempfile.gettempdir()))).run(
                list(args),
                cwd=cwd,
                env=attack_env(cwd, env),
                stdin=stdin,
                timeout=timeout,
                memory_mb=memory_mb,
            )
        except TimeoutError:
            raise AssertionError(
                f"smsops {' '.join(args)} still running after {timeout:.0f} s"
            ) from None
        seconds = time.monotonic() - started
        return Outcome(tuple(args), ran.code, ran.stdout, ran.stderr, seconds)
    process = subprocess.Popen(
        [sys.executable, "-m", "smsops", *args],
        cwd=cwd,
        env=attack_env(cwd, env),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=memory_cap(memory_mb),
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise AssertionError(
            f"smsops {' '.join(args)} still running after {timeout:.0f} s:\n{stderr[-2000:]}"
        ) from None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything it left behind
    return Outcome(tuple(args), process.returncode, stdout, stderr, time.monotonic() - started)


# A valid base the attacks extend: one provider per secret, one template, an
# inline audience. Attacks replace or add files.
BASE_PROVIDERS = """\
providers:
  ses:
    type: sendwithses
    template_keys: {transactional: "${env:SES_KEY}", marketing: "${env:SES_KEY}"}
  sky:
    type: skycore
    base_url: https://sky.example.invalid/api
    api_key: ${env:SKY_KEY}
    from: "12025550100"
"""
BASE_NUMBERS = ("+447400123456", "+447400123457")
BASE_REST = """\
templates:
  hello:
    category: transactional
    body: "Hi {{ name }}"
audiences:
  people:
    contacts:
      - {phone: "+447400123456", name: Sam}
      - {phone: "+447400123457", name: Alex}
schedules:
  greet:
    template: hello
    audience: people
    provider: ses
"""
