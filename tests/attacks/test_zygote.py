"""The fork server `run_cli` uses ends runs exactly as a new interpreter does.

Each case runs the CLI both ways (forked from the zygote, and a fresh
`python -m smsops`) and compares exit status and output: the attack suite's
verdicts must not depend on which one ran it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.attacks.harness import BASE_PROVIDERS, BASE_REST, Outcome, run_cli, write_config

CASES = {
    "version": (["--version"], None),
    "usage error": (["validate", "--no-such-flag"], None),
    "valid config": (["validate", "{config}"], None),
    "invalid config": (["validate", "{config}/../broken"], None),
    "json report": (["validate", "{config}", "--format", "json"], None),
    "plan": (["plan", "{config}", "--sandbox"], None),
    "prompt answered no": (["apply", "{config}", "--sandbox", "--ledger", "{ledger}"], "n\n"),
    "prompt at end of input": (["apply", "{config}", "--sandbox", "--ledger", "{ledger}"], ""),
    "dry run": (["apply", "{config}", "--dry-run", "--ledger", "{ledger}"], None),
}


def _run(case: str, root: Path, fresh: bool, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    config = write_config(root, {"c.yaml": BASE_PROVIDERS + BASE_REST})
    broken = root / "broken"
    broken.mkdir(exist_ok=True)
    (broken / "c.yaml").write_text("schedules: {s: {template: nope}}\n")
    args, stdin = CASES[case]
    names = {"config": str(config), "ledger": str(root / "ledger.sqlite")}
    monkeypatch.setenv("SMSOPS_TEST_EXEC", "1" if fresh else "0")
    return run_cli([a.format(**names) for a in args], cwd=root, stdin=stdin)


def _same(text: str, root: Path) -> str:
    """Output with what legitimately differs between two runs (paths, times, ports) taken out."""
    text = text.replace(str(root), "ROOT")
    text = re.sub(r"127\.0\.0\.1:\d+", "PORT", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z?", "WHEN", text)
    return re.sub(r"\d+(\.\d+)? ?(ms|s)\b", "T", text)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_forked_run_ends_like_a_fresh_interpreter(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forked = _run(case, tmp_path / "forked", False, monkeypatch)
    fresh = _run(case, tmp_path / "fresh", True, monkeypatch)
    assert forked.code == fresh.code, (forked, fresh)
    assert _same(forked.stdout, tmp_path / "forked") == _same(fresh.stdout, tmp_path / "fresh")
    assert _same(forked.stderr, tmp_path / "forked") == _same(fresh.stderr, tmp_path / "fresh")


def test_a_forked_run_is_capped_and_killed_on_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SMSOPS_TEST_EXEC", raising=False)
    with pytest.raises(AssertionError, match="still running"):
        run_cli(["sandbox", "--port", "0"], cwd=tmp_path, timeout=1.5)
    # its process group is gone: no sandbox is left listening
    leftovers = [
        pid
        for pid in os.listdir("/proc")
        if pid.isdigit() and _cmdline(pid).endswith("sandbox\0--port\0000\0")
    ]
    assert leftovers == []


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""
