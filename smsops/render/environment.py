"""The sandboxed, strict Jinja environment every message is rendered in.

Configs arrive through pull requests and are untrusted: templates run in
`jinja2.sandbox`, and an undefined variable is an error, never blank text.
"""

from __future__ import annotations

from functools import cache

from jinja2 import StrictUndefined, meta
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
