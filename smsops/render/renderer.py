"""Render one message per recipient: sandboxed, strict, never half-filled.

Variables, later ones winning: the built-ins (`now`, `schedule`,
`occurrence`, `recipient`), the schedule's `vars`, the contact's columns.
A variable that is missing or empty, a template error or a refused sandbox
escape skips that recipient with a reason; nothing half-rendered is sent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from jinja2 import Template as JinjaTemplate
from jinja2 import TemplateError, UndefinedError
from jinja2.exceptions import SecurityError

from smsops.config.loader import Config
from smsops.config.models import Schedule, Template
from smsops.core.encoding import Encoding, measure
from smsops.core.recipient import Recipient
from smsops.core.skips import Skip, SkipReason
from smsops.render.environment import BUILTINS, environment, variables_of


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    encoding: Encoding
    segments: int
    custom: tuple[str, ...]  # provider template values, in `variables` order

    @property
    def text_hash(self) -> str:
        """sha256 of the text: the ledger keeps this, not the text (made when asked:
        a plan counts most messages and hashes none)."""
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass(frozen=True)
class CompiledTemplate:
    name: str
    config: Template
    template: JinjaTemplate
    variables: frozenset[str]

    @cached_property
    def globals(self) -> dict[str, Any]:
        """The template's globals (range, dict, ...) as a plain dict, taken once."""
        return dict(self.template.globals)

    def render(self, values: dict[str, Any]) -> str:
        """`Template.render(values)` without its per-call cost.

        Jinja's render merges the globals into the values and lists their
        names, iterating a ChainMap in Python both times: 5 of its 6 us. Here
        they are in `values` already (see `render` below) and their names come
        from a plain dict; the context is what `new_context(shared=True)`
        makes, and the rest is Template.render's own body. tests/render checks
        that both give the same text.
        """
        template = self.template
        env = template.environment
        context = env.context_class(env, values, template.name, template.blocks, self.globals)
        try:
            return env.concat(template.root_render_func(context))
        except Exception:
            env.handle_exception()


def compile_templates(config: Config) -> dict[str, CompiledTemplate]:
    """Every template compiled once per config load (the config was validated)."""
    env = environment()
    compiled = {}
    for name, template in config.templates.items():
        jinja = env.from_string(template.body)
        variables = frozenset(variables_of(template.body))
        compiled[name] = CompiledTemplate(name, template, jinja, variables)
    return compiled


def render(
    compiled: CompiledTemplate,
    schedule_name: str,
    schedule: Schedule,
    recipient: Recipient,
    occurrence: str,
    now: datetime,
) -> Rendered | Skip:
    """The message for one recipient, or why they are skipped."""
    values: dict[str, Any] = dict(compiled.globals)
    values |= {
        "now": now,
        "schedule": schedule_name,
        "occurrence": occurrence,
        "recipient": {"phone": recipient.phone, "region": recipient.region},
    }
    values.update(schedule.vars)
    own = recipient.variables
    values.update({k: v for k, v in own.items() if v.strip() or k in BUILTINS})
    if not compiled.variables.issubset(values):
        missing = sorted(compiled.variables.difference(values))
        empty = [name for name in missing if name in own]
        detail = f"no value for {', '.join(missing)}" + (
            f" ({', '.join(empty)} empty)" if empty else ""
        )
        return Skip(SkipReason.MISSING_VARIABLE, detail, recipient.where)
    try:
        text = compiled.render(values)
    except SecurityError as exc:
        return Skip(SkipReason.RENDER_ERROR, f"refused by the sandbox: {exc}", recipient.where)
    except UndefinedError as exc:
        return Skip(SkipReason.RENDER_ERROR, f"undefined: {exc.message}", recipient.where)
    except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
        return Skip(SkipReason.RENDER_ERROR, f"{type(exc).__name__}: {exc}", recipient.where)
    try:
        measured = measure(text, compiled.config.unicode)
    except ValueError as exc:
        return Skip(SkipReason.ENCODING, str(exc), recipient.where)
    wanted = compiled.config.provider_template
    custom = tuple(str(values[name]) for name in wanted.variables) if wanted else ()
    return Rendered(text, measured.encoding, measured.segments, custom)
