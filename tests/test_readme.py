"""Every `$ smsops ...` example in the README and docs/ runs as shown.

Each ```console block (indented ones too) of README.md, then of every page
under docs/ (in path order), then CONTRIBUTING.md is read top to bottom, as
one sequence: the README's tour applies to the sandbox first, so the ledger
pages can read what it wrote. A line starting with `$ smsops` is a command; the lines after it, up
to the next `$` line, are what it shows. Other `$` lines (the benchmarks)
are not run: they take minutes and are not smsops commands. The commands run
in order, each in a fresh `python -m smsops` process, in one temporary copy
of the repository's `examples/` (so `examples/configs` and the sandbox ledger
`.smsops/sandbox-ledger.sqlite` resolve as they do for a user in a checkout),
with no `SMSOPS_*` settings from the environment and the number cache in the
temporary folder. A `# ...` comment after a command is not part of it.

Matching rule for the shown lines (blank lines are ignored on both sides):
- a line that is only `...` stands for any number of lines left out;
- a line ending in ` ...` matches an output line that starts with the text
  before it (a long line cut short);
- `<name>` (lower-case letters and `-`) matches one run of non-blank
  characters that differs per run, such as `<port>`;
- any other line must equal an output line exactly, indentation included;
- each shown line is found in stdout or stderr, in order within its stream;
  two shown lines in a row that land in the same stream must be adjacent
  there unless a `...` line separates them.

Every command must exit 0, except those listed in `EXIT_CODES`, and none
may print a traceback. Where a page shows a situation the examples
cannot produce on their own (uncertain rows, which take a timeout after
sending), `SETUP` prepares it before the command, the way the README
describes it arising.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smsops.ledger.base import SendRecord, Status
from smsops.ledger.sqlite import SqliteLedger

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# The order the examples run in: the README's tour writes the sandbox ledger the others read.
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md")), ROOT / "CONTRIBUTING.md"]
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>\S*)\s*$")
PLACEHOLDER = re.compile(r"<[a-z-]+>")

EXIT_CODES = {"smsops validate examples/broken": 1}


def seed_uncertain(workdir: Path) -> None:
    """Two order-shipped sends that timed out after sending, in the default ledger."""
    ledger = SqliteLedger(workdir / ".smsops" / "ledger.sqlite")
    now = datetime(2026, 11, 22, 18, 30, tzinfo=UTC)
    try:
        rows = [
            SendRecord.claim(
                "order-shipped",
                "once",
                phone,
                provider="ses",
                template="shipped",
                text_hash="h",
                segments=1,
                now=now,
            )
            for phone in ("+447400123456", "+447400123457")
        ]
        claimed = ledger.claim(rows)
        ledger.settle(r.settled(Status.UNCERTAIN, now, error="read timeout") for r in claimed)
    finally:
        ledger.close()


SETUP: dict[str, Callable[[Path], None]] = {
    "smsops ledger list --status uncertain": seed_uncertain,
}


@dataclass
class Example:
    """One `$ smsops ...` command of a page and the lines it shows."""

    line: int
    command: str
    shown: list[str] = field(default_factory=list)


def examples(text: str) -> list[Example]:
    found: list[Example] = []
    indent: str | None = None
    current: Example | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        fence = FENCE.match(raw)
        if indent is None:
            if fence and fence["lang"] == "console":
                indent = fence["indent"]
            continue
        if fence and fence["indent"] == indent and not fence["lang"]:
            indent, current = None, None
            continue
        line = raw[len(indent) :] if raw.startswith(indent) else raw.lstrip()
        if line.startswith("$ "):
            current = None
            if line.startswith("$ smsops "):
                command = shlex.join(shlex.split(line[2:], comments=True))
                current = Example(number, command)
                found.append(current)
        elif current is not None:
            current.shown.append(line)
    return found


def _pattern(shown: str) -> re.Pattern[str]:
    prefix = shown.endswith(" ...")
    text = shown[: -len(" ...")] if prefix else shown
    parts = PLACEHOLDER.split(text)
    body = r"\S+".join(re.escape(part) for part in parts)
    return re.compile(body if prefix else body + "$")


def mismatch(shown: list[str], stdout: str, stderr: str) -> str | None:
    """Why the output does not show `shown` by the rule above, or None when it does."""
    streams = [
        [line.rstrip() for line in out.splitlines() if line.strip()] for out in (stdout, stderr)
    ]
    cursor = [0, 0]
    last: int | None = None
    gap = True
    for line in (line.rstrip() for line in shown if line.strip()):
        if line.strip() == "...":
            gap = True
            continue
        pattern = _pattern(line)
        for stream in (0, 1):
            lines = streams[stream]
            if gap or last != stream:
                at = next(
                    (i for i in range(cursor[stream], len(lines)) if pattern.match(lines[i])),
                    None,
                )
            else:
                at = cursor[stream] if cursor[stream] < len(lines) else None
                at = at if at is not None and pattern.match(lines[at]) else None
            if at is not None:
                cursor[stream], last, gap = at + 1, stream, False
                break
        else:
            return f"not found where expected: {line!r}"
    return None


def run(command: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSOPS_")}
    env.update(NO_COLOR="1", SMSOPS_CACHE_DIR=str(workdir / ".cache"))
    argv = [sys.executable, "-m", "smsops", *shlex.split(command)[1:]]
    return subprocess.run(
        argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def all_examples() -> list[tuple[Path, Example]]:
    return [(page, example) for page in PAGES for example in examples(page.read_text())]


def test_the_docs_have_examples_to_run() -> None:
    tour = [example.command for example in examples(README.read_text())]
    assert "smsops validate examples/configs" in tour
    assert sum(command.startswith("smsops apply") for command in tour) == 2
    commands = [example.command for _, example in all_examples()]
    assert len(commands) >= 10
    assert any(command.startswith("smsops ledger resolve") for command in commands)
    assert any(command.startswith("smsops ledger migrate") for command in commands)
    assert set(EXIT_CODES) <= set(commands)
    assert set(SETUP) <= set(commands)


def test_every_docs_example_runs_as_shown(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    problems: list[str] = []
    for page, example in all_examples():
        if example.command in SETUP:
            SETUP[example.command](tmp_path)
        result = run(example.command, tmp_path)
        where = f"{page.relative_to(ROOT)}:{example.line}: $ {example.command}"
        expected = EXIT_CODES.get(example.command, 0)
        if result.returncode != expected:
            problems.append(f"{where}: exit {result.returncode}, expected {expected}")
        if "Traceback" in result.stderr:
            problems.append(f"{where}: printed a traceback")
        why = mismatch(example.shown, result.stdout, result.stderr)
        if why:
            problems.append(
                f"{where}: {why}\n--- stdout:\n{result.stdout}--- stderr:\n{result.stderr}"
            )
    assert problems == [], "\n\n".join(problems)


@pytest.mark.parametrize(
    ("shown", "stdout", "stderr", "ok"),
    [
        (["a", "b"], "a\nb\n", "", True),
        (["a", "b"], "a\nx\nb\n", "", False),  # adjacent unless `...`
        (["a", "...", "b"], "a\nx\nb\n", "", True),
        (["b", "a"], "a\nb\n", "", False),  # in order
        (["port <port> up"], "port 40123 up\n", "", True),
        (["port <port> up"], "port 40 123 up\n", "", False),
        (["a long line ..."], "a long line, cut\n", "", True),
        (["a long line"], "a long line, cut\n", "", False),  # otherwise exact
        (["  indented"], "indented\n", "", False),
        (["err", "out1", "out2"], "out1\nout2\n", "err\n", True),  # each stream in order
        (["a", "", "b"], "a\n\nb\n", "", True),  # blank lines ignored
    ],
)
def test_the_matching_rule(shown: list[str], stdout: str, stderr: str, ok: bool) -> None:
    assert (mismatch(shown, stdout, stderr) is None) is ok


def test_an_indented_block_and_comments() -> None:
    text = "\n".join(
        [
            "- item:",
            "",
            "  ```console",
            "  $ smsops ledger stats --ledger x.sqlite   # counts",
            "  order-shipped: sent 5",
            "  $ .venv/bin/python bench/x.py",
            "  not shown by smsops",
            "  ```",
            "```sh",
            "$ smsops not-console",
            "```",
        ]
    )
    (example,) = examples(text)
    assert example.command == "smsops ledger stats --ledger x.sqlite"
    assert example.shown == ["order-shipped: sent 5"]
    assert example.line == 4
