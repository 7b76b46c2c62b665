"""Render one message per recipient: sandboxed, strict, never half-filled.

Variables, later ones winning: the built-ins (`now`, `schedule`,
`occurrence`, `recipient`), the schedule's `vars`, the contact's columns.
A variable that is missing or empty, a template error or a refused sandbox
escape skips that recipient with a reason; nothing half-rendered is sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from jinja2 import Template as JinjaTemplate
from jinja2 import TemplateError, UndefinedError, nodes
from jinja2.exceptions import SecurityError

from smsops.config.loader import Config
from smsops.config.models import Template
from smsops.core.encoding import Encoding, measure
from smsops.core.errors import RenderLimitExceeded
from smsops.core.phone import hide_number, scrub_numbers
from smsops.core.recipient import Recipient
from smsops.core.skips import Skip, SkipReason
from smsops.render.environment import BUILTINS, compiled, parsed, variables_of
from smsops.render.limits import MAX_TEXT, MESSAGE

MAX_DETAIL = 200  # characters of an exception quoted in a skip
# The `now` a reviewed text is compared at (`review_hash`): any fixed instant will do.
PINNED_NOW = datetime(2000, 1, 1, tzinfo=UTC)
# The built-ins whose values differ between two occurrences of one schedule.
PER_OCCURRENCE = frozenset({"now", "occurrence"})
# What gives another text on every render of the same values (Jinja's `random`
# filter, the `lipsum` global); named anywhere, even as a string (`map('random')`).
UNREPEATABLE = frozenset({"random", "lipsum"})
TOO_DEEP = "the template recurses too deeply (a macro or block calling itself)"


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
    def same_every_occurrence(self) -> bool:
        """Whether a recipient's render is the same at every occurrence (and `now`).

        From the names the body (and a provider template's values) read: none
        of PER_OCCURRENCE, nothing UNREPEATABLE. Jinja reaches the context
        only by name (the sandbox refuses `_` attributes), so a body that
        names neither cannot see them. The forecast takes the due-now render
        of such a template instead of rendering it again (engine/planner.py).
        """
        wanted = self.config.provider_template
        read = self.variables | frozenset(wanted.variables if wanted else ())
        if read & (PER_OCCURRENCE | UNREPEATABLE):
            return False
        tree = parsed(self.config.body)
        named: set[object] = {n.name for n in tree.find_all(nodes.Name)}
        named |= {n.name for n in tree.find_all((nodes.Filter, nodes.Test))}
        named |= {c.value for c in tree.find_all(nodes.Const)}
        return not named & UNREPEATABLE

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

        Raises `RenderLimitExceeded` past a bound of `smsops.render.limits`;
        the text is at most MAX_TEXT characters (what is written before the
        join is bounded by the environment, see its docstring).
        """
        template = self.template
        env = template.environment
        context = env.context_class(env, values, template.name, template.blocks, self.globals)
        try:
            text = env.concat(template.root_render_func(context))
        except Exception:
            env.handle_exception()
        if len(text) > MAX_TEXT:
            raise RenderLimitExceeded(MESSAGE, MAX_TEXT)
        return text


def compile_templates(
    config: Config, only: Collection[str] | None = None
) -> dict[str, CompiledTemplate]:
    """Every template (or those named in `only`) compiled once per config load (the config
    was validated). A plan of one schedule compiles one: the forecast plans each schedule
    alone, and compiling all of them each time grows with schedules x templates."""
    found = {}
    for name, template in config.templates.items():
        if only is not None and name not in only:
            continue
        jinja = compiled(template.body)
        variables = frozenset(variables_of(template.body))
        found[name] = CompiledTemplate(name, template, jinja, variables)
    return found


def render(
    compiled: CompiledTemplate,
    schedule_name: str,
    variables: Mapping[str, Any],
    recipient: Recipient,
    occurrence: str,
    now: datetime,
) -> Rendered | Skip:
    """The message for one recipient, or why they are skipped (`variables`: a schedule's `vars`)."""
    values: dict[str, Any] = dict(compiled.globals)
    values |= {
        "now": now,
        "schedule": schedule_name,
        "occurrence": occurrence,
        "recipient": {"phone": recipient.phone, "region": recipient.region},
    }
    values.update(variables)
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
    except RenderLimitExceeded as exc:  # names the bound, never the data
        return Skip(SkipReason.RENDER_ERROR, f"the template {exc}", recipient.where)
    except RecursionError:
        return Skip(SkipReason.RENDER_ERROR, TOO_DEEP, recipient.where)
    except SecurityError as exc:
        detail = f"refused by the sandbox: {exc}"
        return Skip(SkipReason.RENDER_ERROR, _quoted(detail, recipient), recipient.where)
    except UndefinedError as exc:
        detail = f"undefined: {exc.message}"
        return Skip(SkipReason.RENDER_ERROR, _quoted(detail, recipient), recipient.where)
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
        detail = f"{type(exc).__name__}: {exc}"
        return Skip(SkipReason.RENDER_ERROR, _quoted(detail, recipient), recipient.where)
    try:
        measured = measure(text, compiled.config.unicode)
    except ValueError as exc:
        return Skip(SkipReason.ENCODING, str(exc), recipient.where)
    wanted = compiled.config.provider_template
    custom = tuple(str(values[name]) for name in wanted.variables) if wanted else ()
    return Rendered(text, measured.encoding, measured.segments, custom)


def review_hash(
    compiled: CompiledTemplate,
    schedule_name: str,
    variables: Mapping[str, Any],
    recipient: Recipient,
    occurrence: str,
    rendered: Rendered,
) -> str:
    """The SHA-256 a reviewed text is compared by: of the text with `now` pinned.

    A saved plan (`plan --out`) and its `apply --plan` render at different
    times; a template that prints the time would read as changed every time.
    Its text is rendered again at PINNED_NOW on both sides, so only a change
    of the template or its inputs shows; any other template's is its text's.
    """
    if "now" not in compiled.variables:
        return rendered.text_hash
    pinned = render(compiled, schedule_name, variables, recipient, occurrence, PINNED_NOW)
    text = pinned.text if isinstance(pinned, Rendered) else f"\0{pinned.reason}\0{pinned.detail}"
    return hashlib.sha256(text.encode()).hexdigest()


def _quoted(detail: str, recipient: Recipient) -> str:
    """An exception's text as a skip detail: it may quote the recipient's data.

    Skip details reach the PR comment, so numbers are masked (this
    recipient's in any spelling, any other long digit run) and the text is
    cut to `MAX_DETAIL` characters.
    """
    shown = scrub_numbers(hide_number(detail, recipient.phone))
    return shown if len(shown) <= MAX_DETAIL else shown[: MAX_DETAIL - 1] + "…"
