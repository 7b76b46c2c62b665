"""The top-level commands, each one's parser built only when it is used.

`smsops --help` shows each command's name and one line; `smsops validate`
parses the arguments of `validate`. Building all 13 commands' parsers (26
with their actions, ~140 arguments: argparse looks up a translation for every
parser and every help line) cost ~8 ms of every start, --help's and
validate's alike (issue 19, item 11). So a command module registers a
function that adds its arguments, and it runs when argparse looks the
command up: to parse its arguments, to show its help, or when a caller walks
`choices` (the docs tables' tests do, and see every command).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

Fill = Callable[[argparse.ArgumentParser], None]

# The value a name has in `choices` until its parser is built (never handed out).
_UNBUILT = cast(argparse.ArgumentParser, object())


class _Parsers(dict[str, argparse.ArgumentParser]):
    """Command name -> parser, every name listed at once, a parser built when looked up.

    argparse reads this as the subcommand action's `choices` (is a name one?
    the names in an error) and `_name_parser_map` (the parser of the command
    given): every way of reading a value builds it first.
    """

    def __init__(self, build: Callable[[str], argparse.ArgumentParser]) -> None:
        super().__init__()
        self._build = build

    def __getitem__(self, name: str) -> argparse.ArgumentParser:
        parser = super().__getitem__(name)
        return self._build(name) if parser is _UNBUILT else parser

    def get(self, name: str, default: Any = None) -> Any:
        if name not in self:
            return default
        return self[name]

    def values(self) -> Any:
        return [self[name] for name in list(self)]

    def items(self) -> Any:
        return [(name, self[name]) for name in list(self)]


if TYPE_CHECKING:
    _Action = argparse._SubParsersAction[argparse.ArgumentParser]
else:  # not subscriptable at run time
    _Action = argparse._SubParsersAction


class Commands(_Action):
    """`add_subparsers(action=Commands)`: commands added with `command`, built on use."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fills: dict[str, tuple[Fill, dict[str, Any]]] = {}
        self._name_parser_map = self.choices = _Parsers(self._built)

    def command(self, name: str, *, help: str, **kwargs: Any) -> Callable[[Fill], Fill]:
        """Decorate the function that adds `name`'s arguments (`kwargs`: its parser's)."""
        if name in self._name_parser_map:
            raise argparse.ArgumentError(self, f"conflicting subparser: {name}")

        def register(fill: Fill) -> Fill:
            self._choices_actions.append(self._ChoicesPseudoAction(name, (), help))
            self._fills[name] = (fill, kwargs)
            dict.__setitem__(self._name_parser_map, name, _UNBUILT)
            return fill

        return register

    def _built(self, name: str) -> argparse.ArgumentParser:
        fill, kwargs = self._fills.pop(name)
        names = self._name_parser_map
        self._name_parser_map = {}  # argparse's add_parser refuses a name it holds
        try:
            parser = self.add_parser(name, **kwargs)
        finally:
            self._name_parser_map = names
        dict.__setitem__(names, name, parser)  # in its place: the order names are shown
        fill(parser)
        return parser
