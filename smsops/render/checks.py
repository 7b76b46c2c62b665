"""Template checks: Jinja syntax, the render bounds, provider template variables, and
who supplies each variable.

`validate` never runs a template unbounded: the one trial render below runs
in the bounded environment (`smsops.render.limits`) with placeholder values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from jinja2 import Template, TemplateError, TemplateSyntaxError, nodes

from smsops.config.loader import Config
from smsops.config.models import Audience
from smsops.config.otp import CODE_VARIABLE
from smsops.core.errors import Problem, RenderLimitExceeded
from smsops.render.environment import (
    BUILTINS,
    PrivateName,
    compiled,
    parsed,
    private_attributes,
    variables_of,
)
from smsops.render.limits import MESSAGE, check_size
from smsops.render.renderer import TOO_DEEP

# What every variable holds in the trial render: a short text, like most data.
PLACEHOLDER = "x"
# Templates are single bodies with no loader: these would fail for every recipient.
_LOADS = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)
_FIX = (
    "keep loops, repetition, padding and output within the bounds docs/security.md lists "
    "(Render bounds)"
)


def check_templates(config: Config, csv_headers: Mapping[str, list[str]]) -> list[Problem]:
    """Every template problem, and every schedule variable that no recipient could supply.

    `csv_headers`: audience name -> its CSV header, for each CSV that could be
    read (`smsops.audience.headers`; an unreadable one was reported there).
    """
    problems: list[Problem] = []
    variables: dict[str, set[str]] = {}
    for name, template in config.templates.items():
        try:
            variables[name] = variables_of(template.body)
        except RecursionError:
            problems.append(
                Problem(
                    config.locate("templates", name, "body"),
                    f"template {name!r}: expressions are nested too deeply to parse; flatten them",
                )
            )
            continue
        except TemplateSyntaxError as exc:
            problems.append(
                Problem(
                    config.locate("templates", name, "body"),
                    f"template {name!r}: Jinja syntax error on line {exc.lineno} "
                    f"of the body: {exc.message}",
                )
            )
            continue
        except TemplateError as exc:  # raised by Jinja's folding of constants as it compiles
            problems.append(
                Problem(
                    config.locate("templates", name, "body"),
                    f"template {name!r}: an expression of constants fails for every "
                    f"recipient: {exc.message}; fix it or remove it",
                )
            )
            continue
        private = private_attributes(template.body)
        if private:
            problems.append(
                Problem(
                    config.locate("templates", name, "body"),
                    f"template {name!r}: templates are sandboxed and may not use "
                    f"private attributes ({_where(private)})",
                )
            )
        elif loads_others(template.body):
            problems.append(
                Problem(
                    config.locate("templates", name, "body"),
                    f"template {name!r}: templates cannot include, import or extend "
                    "other templates; put the text in this template's body",
                )
            )
        elif (broken := trial_render(template.body, variables[name])) is not None:
            problems.append(
                Problem(
                    config.locate("templates", name, "body"),
                    f"template {name!r}: {broken} when tried with every variable set to "
                    f"{PLACEHOLDER!r}; {_FIX}",
                )
            )
        wanted = template.provider_template
        # `send: text` sends the rendered body: the body may use any variable.
        if (
            wanted is not None
            and wanted.send == "custom"
            and set(wanted.variables) != variables[name]
        ):
            problems.append(
                Problem(
                    config.locate("templates", name, "provider_template", "variables"),
                    f"template {name!r}: provider_template.variables "
                    f"[{', '.join(wanted.variables)}] must be exactly the body's variables "
                    f"[{', '.join(sorted(variables[name]))}]",
                )
            )
    problems.extend(_otp_secret_needed(config, variables))
    problems.extend(_unsupplied(config, variables, csv_headers))
    problems.extend(_confirm_variables(config, variables))
    return problems


def _where(private: list[PrivateName]) -> str:
    """`_a on line 2, __class__ on line 3 of the body`: each name at its first line."""
    lines: dict[str, int] = {}
    for name, line in private:
        lines.setdefault(name, line)
    return ", ".join(f"{name} on line {line}" for name, line in sorted(lines.items())) + (
        " of the body"
    )


def _confirm_variables(config: Config, variables: Mapping[str, set[str]]) -> Iterator[Problem]:
    """The opt-out confirmation goes to a number off the suppression list, not an audience
    row: only the built-in variables have values there (engine/confirmations.py)."""
    name = config.opt_out().confirm_template
    extra = sorted(variables.get(name, set()) - BUILTINS) if name is not None else []
    if extra:
        yield Problem(
            config.locate("defaults", "opt_out", "confirm_template"),
            f"defaults.opt_out: confirm template {name!r} uses {', '.join(extra)}, which "
            "no opt-out has (it goes to a number, not an audience row); use only "
            f"{', '.join(sorted(BUILTINS))}",
        )


def _otp_secret_needed(config: Config, variables: Mapping[str, set[str]]) -> Iterator[Problem]:
    """An `otp` template that renders `{{ code }}` needs the secret its codes are hashed with."""
    if config.otp_secret() is not None:
        return
    for name, template in config.templates.items():
        if template.category == "otp" and CODE_VARIABLE in variables.get(name, set()):
            yield Problem(
                config.locate("templates", name, "body"),
                f"template {name!r} renders {{{{ {CODE_VARIABLE} }}}}, a code smsops makes and "
                "keeps only as a keyed hash: add the secret that keys it, as a top-level map "
                "`otp: {secret: ${env:OTP_SECRET}}` (the variable set where codes are "
                "sent and verified)",
            )


def loads_others(body: str) -> bool:
    """Whether the body has `{% include %}`, `{% import %}`, `{% from ... import %}` or
    `{% extends %}` (raises `TemplateSyntaxError`)."""
    return parsed(body).find(_LOADS) is not None  # type: ignore[arg-type]


def trial_render(body: str, variables: set[str]) -> str | None:
    """Render `body` once, bounded, with every variable set to PLACEHOLDER: the bound it
    breaks (a constant bomb like `{{ 'a' * 10**9 }}` or `range(10**9)`), else None.

    Any other error depends on the data and is a per-recipient skip at render time.
    """
    try:
        jinja = compiled(body)
    except (TemplateSyntaxError, RecursionError):
        return None  # reported by the caller's parse
    try:
        check_size(len(_trial(jinja, variables)), MESSAGE)
    except RecursionError:
        return TOO_DEEP
    except RenderLimitExceeded as exc:
        return str(exc)
    except Exception:  # the data decides: a skip with its reason at render time
        return None
    return None


def _trial(jinja: Template, variables: set[str]) -> str:
    """`jinja` rendered once, bounded, every variable PLACEHOLDER (raises as rendering does)."""
    values: dict[str, Any] = {name: PLACEHOLDER for name in variables}
    values |= {
        "now": datetime.now(UTC),
        "schedule": "trial",
        "occurrence": "once",
        "recipient": {"phone": "+10000000000", "region": "ZZ"},
    }
    return jinja.render(values)


def opt_out_warnings(config: Config) -> list[Problem]:
    """What `validate` warns of (exit 0): marketing templates with no opt-out phrase.

    The phrase is looked for in the message the template renders (the trial
    render above), not in its source: a phrase in a comment or a branch never
    taken (`{# STOP #}`, `{% if false %}STOP{% endif %}`) is never sent. A
    template that does not render with placeholder values is judged on its
    source (its data decides; such a render is a per-recipient skip).
    """
    phrases = config.opt_out().phrases
    # Whole words, any case: STOP is in "Reply STOP", not in "nonstop".
    found = re.compile(
        "|".join(rf"(?<!\w){re.escape(phrase)}(?!\w)" for phrase in phrases) or "(?!)",
        re.IGNORECASE,
    )
    listed = ", ".join(phrases)
    return [
        Problem(
            config.locate("templates", name, "body"),
            f"template {name!r}: a marketing message with no opt-out phrase (one of: {listed}, "
            "any case); add one such as 'Reply STOP to opt out', or set check_opt_out: false "
            "on this template",
        )
        for name, template in config.templates.items()
        if template.category == "marketing"
        and template.check_opt_out
        and not found.search(_sent_text(template.body))
    ]


def _sent_text(body: str) -> str:
    """What a template sends, as far as placeholders tell; its source when they cannot."""
    try:
        return _trial(compiled(body), variables_of(body))
    except Exception:  # syntax and bounds are validate's errors; the data decides the rest
        return body


def _unsupplied(
    config: Config, variables: dict[str, set[str]], csv_headers: Mapping[str, list[str]]
) -> Iterator[Problem]:
    """Variables that neither the schedule's `vars` nor any audience column provides."""
    for name, schedule in config.schedules.items():
        audience = config.audiences.get(schedule.audience)
        needed = variables.get(schedule.template)
        if audience is None or needed is None:
            continue
        columns = _columns(csv_headers, schedule.audience, audience)
        if columns is None:
            continue  # the CSV problem is reported by read_headers()
        missing = needed - BUILTINS - set(schedule.vars) - columns
        if missing:
            yield Problem(
                config.locate("schedules", name, key=True),
                f"schedule {name!r}: template {schedule.template!r} needs "
                f"{', '.join(sorted(missing))}, which neither the schedule's vars nor "
                f"audience {schedule.audience!r} provides; add them to vars or as columns",
            )


def _columns(
    csv_headers: Mapping[str, list[str]], name: str, audience: Audience
) -> set[str] | None:
    """The variables an audience's contacts can carry, or None if its CSV was unreadable."""
    columns = {key for contact in audience.contacts for key in contact.variables()}
    columns |= {"phone"} if audience.contacts else set()
    if audience.source is not None:
        if name not in csv_headers:
            return None  # read_headers() reported why
        columns |= set(csv_headers[name])
    return columns
