from __future__ import annotations

from pathlib import Path

import pytest

from smsops.config.yamlsource import load_file
from smsops.core.errors import ConfigError, Location


def _load(tmp_path: Path, text: str) -> tuple[object, object]:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_file(path)


def test_keeps_positions_of_keys_and_values(tmp_path: Path) -> None:
    data, source = _load(tmp_path, "a:\n  b: [x, 'y']\n  c: {d: 1}\n")
    assert data == {"a": {"b": ["x", "y"], "c": {"d": 1}}}
    path = tmp_path / "c.yaml"
    assert source.locate(("a", "b", 1)) == Location(path, 2, 10)  # type: ignore[attr-defined]
    assert source.locate(("a", "c"), key=True) == Location(path, 3, 3)  # type: ignore[attr-defined]
    # A path that does not exist falls back to its nearest ancestor.
    assert source.locate(("a", "c", "missing")) == Location(path, 3, 6)  # type: ignore[attr-defined]


def test_scalars_follow_yaml_core_types(tmp_path: Path) -> None:
    data, _ = _load(
        tmp_path,
        "i: 12\nh: 0x1f\nf: 1.5\nt: true\nn: null\ns: yes\nd: 2027-03-01T09:00:00\nq: '+447400123456'\n",
    )
    assert data == {
        "i": 12,
        "h": 31,
        "f": 1.5,
        "t": True,
        "n": None,
        "s": "yes",  # YAML 1.2: `yes` is a string, not a boolean
        "d": "2027-03-01T09:00:00",
        "q": "+447400123456",
    }


def test_anchors_and_merge_keys(tmp_path: Path) -> None:
    data, _ = _load(tmp_path, "base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\n")
    assert data == {"base": {"x": 1, "y": 2}, "use": {"x": 1, "y": 3}}


def test_empty_file_is_an_empty_config(tmp_path: Path) -> None:
    data, _ = _load(tmp_path, "# nothing yet\n")
    assert data == {}


def test_not_utf8_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_file(path)
