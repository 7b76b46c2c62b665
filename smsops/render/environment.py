"""The sandboxed, strict Jinja environment every message is rendered in.

Configs arrive through pull requests and are untrusted: templates run in
`jinja2.sandbox`, and an undefined variable is an error, never blank text.
"""

from __future__ import annotations

from functools import cache

from jinja2 import StrictUndefined, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

# Variables smsops supplies to every message, before the schedule's and the contact's.
BUILTINS = frozenset({"now", "schedule", "occurrence", "recipient"})


@cache
def environment() -> SandboxedEnvironment:
    """The one shared environment (Jinja environments are safe to share)."""
    return SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        auto_reload=False,
    )


def variables_of(body: str) -> set[str]:
    """The variables a template body reads (raises `TemplateSyntaxError`)."""
    return set(meta.find_undeclared_variables(environment().parse(body)))


def private_attributes(body: str) -> list[str]:
    """Names like `__class__` or `_x` a template reaches for (raises `TemplateSyntaxError`).

    The sandbox refuses them when rendering anyway; finding them statically
    lets `validate` reject the template before any recipient is tried.
    """
    found: list[str] = []
    for node in environment().parse(body).find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value if isinstance(node.arg.value, str) else None
        if name is not None and name.startswith("_"):
            found.append(name)
    return found
