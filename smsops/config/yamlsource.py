"""Read YAML into plain Python values while remembering where every node was.

The C composer of ruamel.yaml gives nodes with marks at C speed; we turn
them into dicts, lists and scalars ourselves, recording the position of
every key and value by path, so later checks can point at `file:line:col`.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    NodeEvent,
)
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from smsops.core.errors import ConfigError, FileRefused, Location, Problem
from smsops.core.files import YAML_MAX_BYTES, read_confined

YamlPath = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_TRUE = {"true", "yes", "on", "y"}
_SPECIAL_FLOATS = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}
# Nesting deeper than this is refused before composing: the C composer
# recurses per level and crashes the process near 50,000 (a config needs ~6).
MAX_DEPTH = 64
# Values (keys, scalars, lists, mappings) one YAML file may hold, an alias counting
# as every value it expands to: composing and building cost ~50 µs a value,
# and nine levels of ten aliases (1.6 KB, "billion laughs") would be 10**9.
MAX_FILE_VALUES = 50_000
# The same for all the files of a config together.
MAX_CONFIG_VALUES = 100_000


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


def load_file(
    path: Path, root: Path | None = None, max_values: int = MAX_FILE_VALUES
) -> tuple[Any, SourceMap]:
    """Parse one YAML file into plain values and its source map.

    The file must resolve inside `root` (default: its own directory) and
    be a regular file within `YAML_MAX_BYTES`. Raises `ConfigError` for
    refused or unreadable files, syntax errors, nesting past `MAX_DEPTH`,
    more than `max_values` values (aliases expanded), and duplicate keys.
    """
    where = Location(path)
    try:
        content = read_confined(path, root or path.resolve().parent, YAML_MAX_BYTES)
        text = content.decode("utf-8")
    except FileRefused as exc:
        raise ConfigError([Problem(where, f"refused: {exc.reason}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [Problem(where, f"not UTF-8 text ({exc.reason}); save the file as UTF-8")]
        ) from None
    except OSError as exc:
        raise ConfigError([Problem(where, f"cannot read: {exc.strerror}")]) from None
    yaml = YAML(typ="safe", pure=False)
    try:
        _check_shape(yaml, text, path, max_values)
        root_node = YAML(typ="safe", pure=False).compose(text)
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
    data = {} if root_node is None else builder.build(root_node, ())
    if builder.problems:
        raise ConfigError(builder.problems)
    return data, builder.source


def _check_shape(yaml: YAML, text: str, path: Path, max_values: int) -> None:
    """Refuse nesting past `MAX_DEPTH` and more than `max_values` values.

    Read from the parser's event stream, which is iterative and lazy: it
    stops at the first level too deep or the first value too many (parsing
    50,000 open brackets to the end takes seconds), before the recursive
    composer ever sees the text. An alias counts as the values its anchor
    expands to and as the levels it holds, so both counts are what building
    the file would make (a chain of aliases can nest deeper than its text).
    An alias to an anchor whose collection is still open is a cycle
    (`x: &a [*a]`), which building would follow forever: refused here.
    """
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (values, levels) it expands to
    # [values so far, deepest child's levels, anchor] of each open collection
    open_nodes: list[list[Any]] = []
    total = 0
    with contextlib.closing(yaml.parse(text)) as events:
        for event in events:
            if isinstance(event, CollectionEndEvent):
                count, inner, anchor = open_nodes.pop()
                _add(open_nodes, sizes, anchor, count, inner + 1)
                continue
            if not isinstance(event, NodeEvent):
                continue
            is_alias = isinstance(event, AliasEvent)
            if is_alias and event.anchor not in sizes and _holds(open_nodes, event.anchor):
                raise _too_much(path, event.start_mark, _cycle(event.anchor))
            count, levels = sizes.get(event.anchor, (1, 0)) if is_alias else (1, 0)
            total += count
            if total > max_values:
                raise _too_much(path, event.start_mark, _past_values(max_values, is_alias))
            is_start = isinstance(event, CollectionStartEvent)
            if len(open_nodes) + max(levels, is_start) > MAX_DEPTH:
                message = f"nested more than {MAX_DEPTH} levels deep; a config needs a few"
                raise _too_much(path, event.start_mark, message + _through(is_alias))
            if is_start:
                sizes.pop(event.anchor, None)  # an anchor defined again: the open one counts
                open_nodes.append([1, 0, event.anchor])
            else:
                _add(open_nodes, sizes, None if is_alias else event.anchor, count, levels)


def _add(
    open_nodes: list[list[Any]],
    sizes: dict[str, tuple[int, int]],
    anchor: str | None,
    count: int,
    levels: int,
) -> None:
    """Account a finished value (`count` values, `levels` deep) to its anchor and parent."""
    if anchor is not None:
        sizes[anchor] = (count, levels)
    if open_nodes:
        parent = open_nodes[-1]
        parent[0] += count
        parent[1] = max(parent[1], levels)


def _holds(open_nodes: list[list[Any]], anchor: str) -> bool:
    """Whether a collection still open carries `anchor`."""
    return any(node[2] == anchor for node in open_nodes)


def _cycle(anchor: str) -> str:
    return (
        f"alias *{anchor} refers to the collection that holds it (a cycle); "
        "YAML configs cannot hold cycles"
    )


def _through(alias: bool) -> str:
    return " (counting what the alias here expands to)" if alias else ""


def _past_values(limit: int, alias: bool) -> str:
    if alias:
        return (
            f"aliases expand this file past {limit:,} values (an alias bomb?); write the "
            "values out or use fewer aliases"
        )
    if limit < MAX_FILE_VALUES:  # what is left of the whole config's budget
        return (
            f"takes the config's YAML files past {MAX_CONFIG_VALUES:,} values together; "
            "keep big lists of contacts in a CSV audience"
        )
    return (
        f"more than {limit:,} values (keys, scalars, lists, mappings) in one file; keep big "
        "lists of contacts in a CSV audience"
    )


def _too_much(path: Path, mark: Any, message: str) -> ConfigError:
    return ConfigError([Problem(Location(path, mark.line + 1, mark.column + 1), message)])


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
