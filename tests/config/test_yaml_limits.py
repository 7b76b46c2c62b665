"""YAML limits: nesting depth and alias expansion, refused where they are written."""

from __future__ import annotations

from pathlib import Path

import pytest

from smsops.config.loader import load_config, walk_config
from smsops.config.yamlsource import MAX_CONFIG_VALUES, MAX_DEPTH, MAX_FILE_VALUES, load_file
from smsops.core.errors import ConfigError


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_file(path)[0]


def _refusal(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, text)
    return str(refused.value)


def test_nesting_up_to_the_limit_loads(tmp_path: Path) -> None:
    deepest = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert _load(tmp_path, f"{deepest}\n") is not None


def test_nesting_past_the_limit_is_refused_at_the_bracket(tmp_path: Path) -> None:
    too_deep = "a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n"
    message = _refusal(tmp_path, too_deep)
    # the root mapping is a level: the bracket that opens level 65 is the 64th
    assert f"c.yaml:1:{3 + MAX_DEPTH}: nested more than {MAX_DEPTH} levels" in message


def test_an_alias_counts_the_levels_it_expands_to(tmp_path: Path) -> None:
    inner = "[" * 40 + "x" + "]" * 40
    fits = f"a: &a {inner}\nb: [[*a]]\n"  # 1 + 2 + 40 levels: 43
    assert _load(tmp_path, fits) is not None
    chained = f"a: &a {inner}\nb: &b [[*a]]\nc: {inner[:20]}*b{inner[-20:]}\n"  # 1 + 20 + 42
    assert _load(tmp_path, chained) is not None
    too_deep = f"a: &a {inner}\nb: &b [[*a]]\nc: {inner[:22]}*b{inner[-22:]}\n"  # 1 + 22 + 42
    message = _refusal(tmp_path, too_deep)
    assert "c.yaml:3:26: nested more than 64 levels deep" in message
    assert "(counting what the alias here expands to)" in message


def test_merge_keys_and_plain_aliases_still_work(tmp_path: Path) -> None:
    text = (
        "base: &base {category: transactional, body: 'x'}\n"
        "list: &list [1, 2]\n"
        "templates:\n"
        "  a: {<<: *base}\n"
        "  b:\n    <<: [*base]\n    body: 'y'\n"
        "  c: *list\n"
    )
    data = _load(tmp_path, text)
    assert data == {
        "base": {"category": "transactional", "body": "x"},
        "list": [1, 2],
        "templates": {
            "a": {"category": "transactional", "body": "x"},
            "b": {"category": "transactional", "body": "y"},
            "c": [1, 2],
        },
    }


# the root mapping, `ten` and its list of ten, `many` and its list: 15 values
TEN = "ten: &ten [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\nmany:\n"
FITS = (MAX_FILE_VALUES - 15) // 11  # aliases of `ten` (11 values each) that fit


def test_aliases_up_to_the_limit_load(tmp_path: Path) -> None:
    data = _load(tmp_path, TEN + "  - *ten\n" * FITS)
    assert isinstance(data, dict)
    assert len(data["many"]) == FITS


def test_an_alias_past_the_limit_is_refused_at_that_alias(tmp_path: Path) -> None:
    message = _refusal(tmp_path, TEN + "  - *ten\n" * (FITS + 1))
    assert f"c.yaml:{2 + FITS + 1}:5: aliases expand this file past 50,000 values" in message


def test_a_file_of_too_many_plain_values_is_refused_where_it_passes(tmp_path: Path) -> None:
    message = _refusal(tmp_path, "a: [" + "1, " * MAX_FILE_VALUES + "]\n")
    # root, `a`, the list: the value that passes the limit is item 49,998 (column 1 + 3 * n)
    column = 5 + 3 * (MAX_FILE_VALUES - 3)
    assert f"c.yaml:1:{column}: more than 50,000 values" in message


def test_the_files_of_a_config_share_one_budget(tmp_path: Path) -> None:
    items = "[" + "1, " * (MAX_CONFIG_VALUES // 3) + "]"
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.yaml").write_text(f"{name}: {items}\n")
    problems = load_config(tmp_path, {}).problems
    refused = [p for p in problems if "values together" in p.message]
    assert [p.location.file.name for p in refused] == ["c.yaml"]


def test_an_alias_inside_an_anchor_counts_each_time_it_is_used(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 6)]
    message = _refusal(tmp_path, "\n".join(lines) + "\n")
    assert "c.yaml:5:" in message  # a0..a3 hold ~12,000 values; the 4th *a3 passes 50,000


def test_a_yaml_symlink_out_is_refused_by_its_path_and_not_read(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (tmp_path / "out.yaml").write_text("SECRET: 1\n")
    (config / "in.yaml").write_text("templates: {}\n")
    (config / "linked.yaml").symlink_to(tmp_path / "out.yaml")
    result = load_config(config, {})
    assert [str(p) for p in result.problems] == [
        f"{config / 'linked.yaml'}: refused: resolves outside the config directory; a config "
        "may read only files inside its own directory (move the file there, no symlinks out)"
    ]


def test_the_walk_follows_links_inside_once_and_refuses_folders_out(tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "real").mkdir(parents=True)
    (config / "real" / "a.yaml").write_text("{}\n")
    (config / "alias").symlink_to(config / "real", target_is_directory=True)
    (config / "loop").symlink_to(config, target_is_directory=True)
    (tmp_path / "away").mkdir()
    (config / "away").symlink_to(tmp_path / "away", target_is_directory=True)
    found, problems = walk_config(config)
    assert [path.name for path in found] == ["a.yaml"]
    assert [p.location.file.name for p in problems] == ["away"]


CYCLE = "refers to the collection that holds it (a cycle); YAML configs cannot hold cycles"


@pytest.mark.parametrize(
    ("text", "where", "alias"),
    [
        ("x: &a [*a]\n", "c.yaml:1:8:", "*a"),
        ("templates: &t {t: {category: otp, body: x, x: *t}}\n", "c.yaml:1:47:", "*t"),
        ("a: &m\n  <<: *m\n", "c.yaml:2:7:", "*m"),
        ("x: 1\ny: &a\n  - [[*a]]\n", "c.yaml:3:7:", "*a"),
    ],
)
def test_an_alias_inside_its_own_anchor_is_a_located_cycle(
    tmp_path: Path, text: str, where: str, alias: str
) -> None:
    message = _refusal(tmp_path, text)
    assert where in message
    assert f"alias {alias} {CYCLE}" in message


def test_an_alias_to_a_closed_collection_is_no_cycle(tmp_path: Path) -> None:
    assert _load(tmp_path, "a: &a [1]\nb: [*a, {c: *a}]\n") == {"a": [1], "b": [[1], {"c": [1]}]}


def test_a_source_holding_a_nul_byte_is_refused_at_the_value_and_not_watched(
    tmp_path: Path,
) -> None:
    from smsops.config.loader import files_read

    (tmp_path / "a.yaml").write_text('audiences:\n  people:\n    source: "p.csv\\0/etc/passwd"\n')
    (tmp_path / "p.csv").write_text("phone\n")
    problems = load_config(tmp_path, {}).problems
    assert [str(p.location) for p in problems] == [f"{tmp_path / 'a.yaml'}:3:13"]
    assert "cannot hold a NUL byte" in problems[0].message
    assert "passwd" not in problems[0].message
    assert files_read(tmp_path) == [tmp_path / "a.yaml"]
