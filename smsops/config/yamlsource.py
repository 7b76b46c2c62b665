"""Read YAML into plain Python values while remembering where every node was.

The C composer of ruamel.yaml gives nodes with marks at C speed; we turn
them into dicts, lists and scalars ourselves, recording the position of
every key and value by path, so later checks can point at `file:line:col`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from smsops.core.errors import ConfigError, Location, Problem

YamlPath = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_TRUE = {"true", "yes", "on", "y"}
_SPECIAL_FLOATS = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}


@dataclass
class SourceMap:
    """Positions of the values (and mapping keys) of one YAML file, by path."""

    file: Path
    values: dict[YamlPath, Location] = field(default_factory=dict)
    keys: dict[YamlPath, Location] = field(default_factory=dict)

    def locate(self, path: YamlPath, *, key: bool = False) -> Location:
        """The position of `path`, or of its nearest ancestor that has one."""
        if key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return found
        return Location(self.file)


def _location(file: Path, node: Node) -> Location:
    mark = node.start_mark
    return Location(file, mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, file: Path) -> None:
        self.source = SourceMap(file)
        self.problems: list[Problem] = []

    def build(self, node: Node, path: YamlPath) -> Any:
        self.source.values[path] = _location(self.source.file, node)
        if not isinstance(node, ScalarNode) and str(node.tag) not in (_TAG + "map", _TAG + "seq"):
            self._unsupported(node)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node)

    def _mapping(self, node: MappingNode, path: YamlPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, Location] = {}
        for key_node, value_node in node.value:
            where = _location(self.source.file, key_node)
            if key_node.tag == _TAG + "merge":
                self._merge(result, value_node, path)
                continue
            if not isinstance(key_node, ScalarNode):
                self.problems.append(Problem(where, "a mapping key must be a plain string"))
                continue
            key = str(key_node.value)
            if key in seen:
                first = seen[key]
                self.problems.append(
                    Problem(where, f"duplicate key {key!r} (first defined at line {first.line})")
                )
                continue
            seen[key] = where
            self.source.keys[(*path, key)] = where
            result[key] = self.build(value_node, (*path, key))
        return result

    def _merge(self, result: dict[str, Any], value_node: Node, path: YamlPath) -> None:
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        for source in sources:
            if not isinstance(source, MappingNode):
                where = _location(self.source.file, source)
                self.problems.append(Problem(where, "'<<' merges only mappings"))
                continue
            for key, value in self._mapping(source, path).items():
                result.setdefault(key, value)

    def _scalar(self, node: Node) -> Any:
        tag = str(node.tag)
        text = str(node.value)
        if tag == _TAG + "null":
            return None
        if tag == _TAG + "bool":
            return text.lower() in _TRUE
        if tag == _TAG + "int":
            return _parse_int(text)
        if tag == _TAG + "float":
            lowered = text.lower()
            return _SPECIAL_FLOATS.get(lowered) or float(lowered.replace("_", ""))
        if tag in (_TAG + "str", _TAG + "timestamp"):
            # Timestamps stay text: the models parse them with their time zone rules.
            return text
        self._unsupported(node)
        return text

    def _unsupported(self, node: Node) -> None:
        self.problems.append(
            Problem(
                _location(self.source.file, node),
                f"unsupported YAML tag {node.tag!r}; use plain strings, numbers, lists, mappings",
            )
        )


def _parse_int(text: str) -> int:
    cleaned = text.replace("_", "")
    try:
        return int(cleaned, 0)
    except ValueError:
        # YAML 1.1 octal (`017`) and signed forms that Python's base-0 parse refuses.
        return int(cleaned, 8) if cleaned.lstrip("+-").startswith("0") else int(cleaned)


def load_file(path: Path) -> tuple[Any, SourceMap]:
    """Parse one YAML file into plain values and its source map.

    Raises `ConfigError` for unreadable files, syntax errors and duplicate keys.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [Problem(Location(path), f"not UTF-8 text ({exc.reason}); save the file as UTF-8")]
        ) from None
    except OSError as exc:
        raise ConfigError([Problem(Location(path), f"cannot read: {exc.strerror}")]) from None
    yaml = YAML(typ="safe", pure=False)
    try:
        root = yaml.compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        lines = text.splitlines()
        if mark and mark.line < len(lines) and "${" in lines[mark.line]:
            message += ' (inside { } or [ ], quote references: "${env:NAME}")'
        raise ConfigError([Problem(where, f"YAML syntax error: {message}")]) from None
    except ReaderError as exc:  # a character YAML forbids, e.g. a raw ESC: where it is
        raise ConfigError([_forbidden(path, text, exc)]) from None
    except YAMLError as exc:
        raise ConfigError([Problem(Location(path), f"YAML error: {exc}")]) from None
    builder = _Builder(path)
    data = {} if root is None else builder.build(root, ())
    if builder.problems:
        raise ConfigError(builder.problems)
    return data, builder.source


def _forbidden(path: Path, text: str, exc: ReaderError) -> Problem:
    """A character YAML does not allow in a file (a C0/C1 control, say), located by line."""
    position = min(max(int(exc.position), 0), len(text))
    before = text[:position]
    line = before.count("\n") + 1
    column = position - (before.rfind("\n") + 1) + 1
    code = int(exc.character) if isinstance(exc.character, int) else ord(text[position:][:1] or "?")
    escape = f"\\x{code:02X}" if code <= 0xFF else f"\\u{code:04X}"
    return Problem(
        Location(path, line, column),
        f"character U+{code:04X} is not allowed in YAML; remove it, or write it as {escape} "
        "inside a double-quoted string",
    )
