"""Hostile configs that read files they must not, or files and YAML built to exhaust us.

Each case writes one config (beside a planted file outside it that holds
the OUTSIDE marker) and runs it through `validate`, `plan --format
markdown` (the PR comment) and `render`. Every run must refuse it with a
located error, quote nothing from outside, and finish quickly.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.attacks.harness import (
    BASE_NUMBERS,
    BASE_PROVIDERS,
    OUTSIDE,
    Outcome,
    plant_outside,
    run_cli,
    write_config,
)

TEMPLATES_AND_SCHEDULE = """\
templates:
  hello:
    category: transactional
    body: "Hi {{ name }}"
schedules:
  greet:
    template: hello
    audience: people
    provider: ses
"""
COMMANDS = (["validate"], ["plan", "--format", "markdown"], ["render"])
# A source refused or unreadable is reported at the `source` value.
AT_SOURCE = r"audiences\.yaml:3:13"


def _audience(source: str) -> str:
    return f"audiences:\n  people:\n    source: {source}\n"


def _config(root: Path, source: str, extra: dict[str, str | bytes] | None = None) -> Path:
    files: dict[str, str | bytes] = {
        "providers.yaml": BASE_PROVIDERS,
        "rest.yaml": TEMPLATES_AND_SCHEDULE,
        "audiences.yaml": _audience(source),
        **(extra or {}),
    }
    return write_config(root, files)


def _outside_yaml(root: Path) -> Path:
    """A YAML file outside the config whose only key is the marker (an error would quote it)."""
    folder = root / "elsewhere"
    folder.mkdir()
    (folder / "leak.yaml").write_text(f"{OUTSIDE}: {{}}\nproviders: {{}}\n")
    return folder


def _alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        items = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{items}]")
    return "\n".join(lines) + "\n"


def _merge_bomb(levels: int = 12) -> str:
    lines = ["m0: &m0 {x0: 1, x1: 2, x2: 3}"]
    for level in range(1, levels):
        lines.append(f"m{level}: &m{level}")
        lines.append(f"  <<: [*m{level - 1}, *m{level - 1}, *m{level - 1}]")
        for copy in range(4):
            lines.append(f"  c{copy}: *m{level - 1}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Attack:
    """A hostile config: how to build it (given the test's root) and where the error points."""

    name: str
    build: Callable[[Path], Path]
    located: str
    says: str  # a phrase the refusal must carry
    # `validate` reads a CSV's header only (a million rows are plan's work)
    commands: tuple[list[str], ...] = COMMANDS


def _proc_environ(root: Path) -> Path:
    return _config(root, "/proc/self/environ")


def _absolute(root: Path) -> Path:
    return _config(root, str(plant_outside(root)))


def _dot_dot(root: Path) -> Path:
    plant_outside(root)
    return _config(root, "../outside.csv")


def _csv_symlink(root: Path) -> Path:
    config = _config(root, "people.csv")
    (config / "people.csv").symlink_to(plant_outside(root))
    return config


def _yaml_symlink(root: Path) -> Path:
    config = _config(root, "people.csv", {"people.csv": "phone,name\n+447400123456,Sam\n"})
    (config / "leak.yaml").symlink_to(_outside_yaml(root) / "leak.yaml")
    return config


def _directory_symlink(root: Path) -> Path:
    config = _config(root, "people.csv", {"people.csv": "phone,name\n+447400123456,Sam\n"})
    (config / "shared").symlink_to(_outside_yaml(root), target_is_directory=True)
    return config


def _nul_in_source(root: Path) -> Path:
    return _config(root, '"people.csv\\0/etc/passwd"', {"people.csv": "phone,name\n"})


def _dev_zero(root: Path) -> Path:
    return _config(root, "/dev/zero")


def _dev_zero_linked(root: Path) -> Path:
    config = _config(root, "people.csv")
    (config / "people.csv").symlink_to("/dev/zero")
    return config


def _fifo_csv(root: Path) -> Path:
    config = _config(root, "people.csv")
    os.mkfifo(config / "people.csv")
    return config


def _fifo_yaml(root: Path) -> Path:
    config = _config(root, "people.csv", {"people.csv": "phone,name\n+447400123456,Sam\n"})
    os.mkfifo(config / "more.yaml")
    return config


def _directory_source(root: Path) -> Path:
    config = _config(root, "people.csv")
    (config / "people.csv").mkdir()
    return config


def _big_yaml(root: Path) -> Path:
    padding = "# " + "x" * 78 + "\n"
    big = BASE_PROVIDERS + padding * (5 * 2**20 // len(padding))
    return _config(root, "people.csv", {"providers.yaml": big, "people.csv": "phone,name\n"})


def _big_csv(root: Path) -> Path:
    config = _config(root, "people.csv")
    with (config / "people.csv").open("wb") as sparse:
        sparse.write(f"phone,name\n+447400123456,{OUTSIDE}\n".encode())
        sparse.truncate(65 * 2**20)  # sparse: 65 MiB that cost no disk
    return config


def _endless_line(root: Path) -> Path:
    line = f"+447400123456,{OUTSIDE}," + "9" * (3 * 2**20)
    return _config(root, "people.csv", {"people.csv": f"phone,name\n{line}\n"})


def _unclosed_quote(root: Path) -> Path:
    people = 'phone,name\n+447400123456,"Sam\n+447400123457,Bob\n+447400123458,Eve\n'
    return _config(root, "people.csv", {"people.csv": people})


def _unclosed_quote_last(root: Path) -> Path:
    people = 'phone,name\n+447400123456,Sam\n+447400123457,"Bob\n'
    return _config(root, "people.csv", {"people.csv": people})


def _quoted_header_break(root: Path) -> Path:
    people = 'phone,"na\nme"\n+447400123456,Sam\n'
    return _config(root, "people.csv", {"people.csv": people})


def _endless_header(root: Path) -> Path:
    header = "phone,name," + "x" * (3 * 2**20)
    return _config(root, "people.csv", {"people.csv": f"{header}\n+447400123456,Sam\n"})


def _alias(root: Path) -> Path:
    return _config(root, "people.csv", {"bomb.yaml": _alias_bomb(), "people.csv": "phone,name\n"})


def _merge(root: Path) -> Path:
    return _config(root, "people.csv", {"bomb.yaml": _merge_bomb(), "people.csv": "phone,name\n"})


def _many_values(root: Path) -> Path:
    flood = "contacts: [" + "1, " * 400_000 + "]\n"  # 1.2 MB: within the byte limit
    return _config(root, "people.csv", {"flood.yaml": flood, "people.csv": "phone,name\n"})


def _many_files(root: Path) -> Path:
    files: dict[str, str | bytes] = {"people.csv": "phone,name\n"}
    for index in range(6):
        files[f"part{index}.yaml"] = f"x{index}: [" + "1, " * 30_000 + "]\n"
    return _config(root, "people.csv", files)


def _alias_chain(root: Path) -> Path:
    # each line nests 60 levels (within the limit); each alias adds the line before
    lines = ["a0: &a0 " + "[" * 60 + "x" + "]" * 60]
    lines += [f"a{i}: &a{i} " + "[" * 60 + f"*a{i - 1}" + "]" * 60 for i in range(1, 40)]
    chain = "\n".join(lines) + "\n"
    return _config(root, "people.csv", {"chain.yaml": chain, "people.csv": "phone,name\n"})


def _cycle(root: Path) -> Path:
    return _config(root, "people.csv", {"cycle.yaml": "x: &a [*a]\n", "people.csv": "phone,name\n"})


def _mapping_cycle(root: Path) -> Path:
    cycle = "templates: &t {t: {category: otp, body: x, x: *t}}\n"
    return _config(root, "people.csv", {"cycle.yaml": cycle, "people.csv": "phone,name\n"})


def _deep(root: Path) -> Path:
    deep = "providers: " + "[" * 50_000 + "]" * 50_000 + "\n"
    return _config(root, "people.csv", {"deep.yaml": deep, "people.csv": "phone,name\n"})


def _deep_block(root: Path) -> Path:
    deep = (
        "providers:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 400)) + "  " * 400 + "v\n"
    )
    return _config(root, "people.csv", {"deep.yaml": deep, "people.csv": "phone,name\n"})


ATTACKS = [
    Attack("proc-self-environ", _proc_environ, AT_SOURCE, "outside the config directory"),
    Attack("absolute-path-out", _absolute, AT_SOURCE, "outside the config directory"),
    Attack("dot-dot-escape", _dot_dot, AT_SOURCE, "outside the config directory"),
    Attack("csv-symlink-out", _csv_symlink, AT_SOURCE, "outside the config directory"),
    Attack("yaml-symlink-out", _yaml_symlink, r"config/leak\.yaml", "outside the config"),
    Attack("directory-symlink-out", _directory_symlink, r"config/shared\b", "outside the config"),
    Attack("nul-byte-in-source", _nul_in_source, AT_SOURCE, "cannot hold a NUL byte"),
    Attack("dev-zero", _dev_zero, AT_SOURCE, "outside the config directory"),
    Attack("symlink-to-dev-zero", _dev_zero_linked, AT_SOURCE, "outside the config directory"),
    Attack("fifo-csv", _fifo_csv, AT_SOURCE, "a FIFO (named pipe), not a regular file"),
    Attack("fifo-yaml", _fifo_yaml, r"config/more\.yaml", "a FIFO (named pipe)"),
    Attack("directory-as-csv", _directory_source, AT_SOURCE, "is a directory"),
    Attack("oversized-yaml", _big_yaml, r"config/providers\.yaml", "over the limit of 4.0 MiB"),
    Attack("oversized-csv", _big_csv, AT_SOURCE, "over the limit of 64.0 MiB"),
    Attack(
        "endless-csv-line",
        _endless_line,
        r"people\.csv:2:1",
        "longer than 1.0 MiB",
        commands=COMMANDS[1:],
    ),
    Attack(
        "unclosed-csv-quote",
        _unclosed_quote,
        r"people\.csv:row 2: a quoted field runs over the end of the line",
        "(an unclosed quote?); fields may not hold line breaks",
        commands=COMMANDS[1:],
    ),
    Attack(
        "unclosed-csv-quote-at-the-end",
        _unclosed_quote_last,
        r"people\.csv:row 3: a quoted field runs over",
        "fields may not hold line breaks",
        commands=COMMANDS[1:],
    ),
    Attack(
        "line-break-in-csv-header",
        _quoted_header_break,
        r"people\.csv:row 1: (audience 'people': )?a quoted field runs over",
        "fields may not hold line breaks",
    ),
    Attack("endless-csv-header", _endless_header, r"people\.csv:1:1", "longer than 1.0 MiB"),
    Attack("alias-bomb", _alias, r"bomb\.yaml:\d+:\d+", "alias bomb"),
    Attack("merge-key-bomb", _merge, r"bomb\.yaml:\d+:\d+", "alias bomb"),
    Attack("value-flood", _many_values, r"flood\.yaml:1:\d+", "more than 50,000 values"),
    Attack("files-flood", _many_files, r"part\d\.yaml:1:\d+", "past 100,000 values together"),
    Attack("recursive-alias", _cycle, r"cycle\.yaml:1:8", "alias *a refers to the collection"),
    Attack("recursive-mapping", _mapping_cycle, r"cycle\.yaml:1:47", "(a cycle); YAML configs"),
    Attack("nesting-50000", _deep, r"deep\.yaml:1:\d+", "nested more than 64 levels"),
    Attack("alias-chain-depth", _alias_chain, r"chain\.yaml:2:69", "what the alias here expands"),
    Attack("block-nesting-400", _deep_block, r"deep\.yaml:\d+:\d+", "nested more than 64"),
]


def _run_all(config: Path, cwd: Path, commands: tuple[list[str], ...] = COMMANDS) -> list[Outcome]:
    """The commands at once (each its own bounded process): the suite stays quick."""
    with ThreadPoolExecutor(len(commands)) as pool:
        runs = [pool.submit(run_cli, [*command, str(config)], cwd=cwd) for command in commands]
        return [run.result() for run in runs]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.name)
def test_a_file_attack_is_refused_where_it_is_written(tmp_path: Path, attack: Attack) -> None:
    config = attack.build(tmp_path)
    for outcome in _run_all(config, tmp_path, attack.commands):
        outcome.assert_safe(code=1, located=attack.located, numbers=BASE_NUMBERS)
        assert attack.says in outcome.output, outcome.output[-2000:]
        assert "/proc/self/environ" not in outcome.output or attack.name == "proc-self-environ"
        assert "passwd" not in outcome.output


def test_an_allowed_csv_quoted_in_an_error_has_its_numbers_masked(tmp_path: Path) -> None:
    # no header row: the first contact's number would be "the columns" of the file
    headerless = "+447400123456,Sam\n+447400123457,Alex\n"
    config = _config(tmp_path, "people.csv", {"people.csv": headerless})
    for outcome in _run_all(config, tmp_path):
        outcome.assert_safe(code=1, located=AT_SOURCE, numbers=BASE_NUMBERS)
        assert re.search(r"its columns are \+44 74\*\* \*\*\*456, Sam", outcome.output)


def test_a_symlink_loop_inside_the_config_ends(tmp_path: Path) -> None:
    config = _config(tmp_path, "people.csv", {"people.csv": "phone,name\n+447400123456,Sam\n"})
    (config / "loop").symlink_to(config, target_is_directory=True)
    outcome = run_cli(["validate", str(config)], cwd=tmp_path)
    outcome.assert_safe(code=0, numbers=BASE_NUMBERS)
    assert "(3 files:" in outcome.output  # each YAML file once, not once per lap
