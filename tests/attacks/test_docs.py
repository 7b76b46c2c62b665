"""Hostile inputs on the paths the docs part of issue 13 touches.

- The README's `validate examples/broken` shows a literal secret refused:
  a key written into YAML must be refused at its place and never echoed,
  however it is spelt.
- `ledger stats` now takes `--schedule`/`--status`: pointed at a file that
  is no ledger, or at a ledger path that is a folder, it still gives a clear
  error naming the path, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.attacks.harness import run_cli, write_config

LITERAL = "LITERAL-KEY-9d2e71"
REST = """\
templates:
  t: {category: transactional, body: "Hi"}
audiences:
  people:
    contacts: [{phone: "+447400123456"}]
schedules:
  s: {template: t, audience: people, provider: p}
"""


@dataclass(frozen=True)
class Literal:
    name: str
    providers: str
    located: str


LITERALS = [
    Literal(
        "aoc api_key",
        f"providers:\n  p: {{type: aoc, base_url: 'https://a.example', sender: S, "
        f"api_key: {LITERAL}}}\n",
        r"providers\.yaml:2:\d+: provider 'p': api_key: secrets never live in YAML",
    ),
    Literal(
        "sendwithses template key, quoted",
        f"providers:\n  p:\n    type: sendwithses\n    template_keys:\n"
        f"      transactional: '{LITERAL}'\n",
        r"providers\.yaml:5:22: provider 'p': template_keys\.transactional: secrets never",
    ),
    Literal(
        "skycore api_key half a reference",
        f"providers:\n  p: {{type: skycore, base_url: 'https://s.example', from: '1202', "
        f"api_key: '${{env:X}}{LITERAL}'}}\n",
        r"providers\.yaml:2:\d+: provider 'p': api_key: secrets never live in YAML",
    ),
    Literal(
        "opentact token as a block scalar",
        f"providers:\n  p:\n    type: opentact\n    from: '+12017771234'\n    token: |\n"
        f"      {LITERAL}\n",
        r"providers\.yaml:5:\d+: provider 'p': token: secrets never live in YAML",
    ),
]


@pytest.mark.parametrize("case", LITERALS, ids=lambda c: c.name)
def test_a_literal_secret_is_refused_where_it_is_and_never_echoed(
    tmp_path: Path, case: Literal
) -> None:
    config = write_config(tmp_path, {"providers.yaml": case.providers, "rest.yaml": REST})
    for command in (["validate"], ["plan"]):
        outcome = run_cli([*command, str(config)], cwd=tmp_path)
        outcome.assert_safe(code=1, located=case.located, numbers=["+447400123456"])
        assert LITERAL not in outcome.output
        assert LITERAL[:12] not in outcome.output  # not even its start
    outcome = run_cli(["validate", "--format", "json", str(config)], cwd=tmp_path)
    outcome.assert_safe(code=1, located=r'"line": \d+,\s+"column": \d+', numbers=["+447400123456"])
    assert "secrets never live in YAML" in outcome.stdout
    assert LITERAL[:12] not in outcome.output


@dataclass(frozen=True)
class NoLedger:
    name: str
    make: str  # "text" or "folder"


NO_LEDGERS = [NoLedger("a text file", "text"), NoLedger("a folder", "folder")]


@pytest.mark.parametrize("case", NO_LEDGERS, ids=lambda c: c.name)
def test_stats_with_filters_on_something_that_is_no_ledger(tmp_path: Path, case: NoLedger) -> None:
    path = tmp_path / "sends.sqlite"
    if case.make == "folder":
        path.mkdir()
    else:
        path.write_text("schedule,status\ns,sent\n" * 50)
    before = sorted(p.name for p in tmp_path.iterdir())
    for flags in (["--schedule", "s"], ["--status", "sent", "--format", "json"]):
        outcome = run_cli(["ledger", "stats", *flags, "--ledger", str(path)], cwd=tmp_path)
        outcome.assert_safe(code=1, located=r"sends\.sqlite")
        assert outcome.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".cache") == before
