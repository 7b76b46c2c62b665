"""Rendering: precedence of variables, skips instead of half-filled texts, the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smsops.cli import main
from smsops.config.models import Schedule, Template
from smsops.core.errors import Location
from smsops.core.recipient import Recipient
from smsops.core.skips import Skip, SkipReason
from smsops.engine.messages import message_for
from smsops.providers.base import Message
from smsops.render.environment import environment, variables_of
from smsops.render.renderer import CompiledTemplate, Rendered, render

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
WHERE = Location(Path("people.csv"), row=2)


def compiled(body: str, **template: object) -> CompiledTemplate:
    config = Template.model_validate({"category": "transactional", "body": body, **template})
    return CompiledTemplate(
        "t", config, environment().from_string(body), frozenset(variables_of(body))
    )


def run(
    body: str, variables: dict[str, str], vars: dict[str, object] | None = None, **template: object
) -> Rendered | Skip:
    schedule = Schedule.model_validate(
        {"template": "t", "audience": "a", "provider": "p", "vars": vars or {}}
    )
    recipient = Recipient.contact("+447400123456", "GB", variables, WHERE)
    return render(compiled(body, **template), "s", schedule.vars, recipient, "once", NOW)


def test_contact_wins_over_schedule_vars_and_builtins_are_there() -> None:
    result = run(
        "{{ greeting }} {{ name }} ({{ schedule }}/{{ occurrence }}, {{ recipient.region }}, {{ now.year }})",
        {"name": "Sam", "greeting": "Hey"},
        {"greeting": "Hello", "name": "Nobody"},
    )
    assert isinstance(result, Rendered)
    assert result.text == "Hey Sam (s/once, GB, 2026)"
    assert (result.encoding, result.segments) == ("GSM-7", 1)


@pytest.mark.parametrize(
    "body",
    [
        "Hi {{ name }}",
        "{% for i in range(2) %}{{ i }}{{ dict(a=name)['a'] }}{% endfor %}",
        "{{ name | upper }} {{ '%s' | format(order) }} {% set x = namespace(n=1) %}{{ x.n }}",
        "{{ name.__class__ }}",
    ],
)
def test_fast_render_is_jinjas_render(body: str) -> None:
    template = compiled(body)
    values = {"name": "Sam", "order": "A-1"}

    def outcome(render: Callable[[], str]) -> str:
        try:
            return render()
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"

    expected = outcome(lambda: template.template.render(values))
    assert outcome(lambda: template.render({**template.globals, **values})) == expected


def test_missing_variable_is_a_skip_naming_it() -> None:
    assert run("Hi {{ name }} {{ code }}", {"name": "Sam"}) == Skip(
        SkipReason.MISSING_VARIABLE, "no value for code", WHERE
    )


def test_empty_cell_is_missing_not_blank_text() -> None:
    result = run("Order {{ order_id }} shipped", {"order_id": "  "})
    assert result == Skip(
        SkipReason.MISSING_VARIABLE, "no value for order_id (order_id empty)", WHERE
    )


def test_strict_undefined_attribute_is_a_skip() -> None:
    result = run("Hi {{ recipient.nickname }}", {})
    assert isinstance(result, Skip)
    assert result.reason is SkipReason.RENDER_ERROR
    assert "nickname" in result.detail


def test_runtime_error_is_a_skip_not_an_exception() -> None:
    result = run("{{ 1 // zero }}", {"zero": "0"}, {"zero": 0})
    assert isinstance(result, Skip)
    assert result.reason is SkipReason.RENDER_ERROR


def test_unicode_false_on_ucs2_text_is_an_encoding_skip() -> None:
    result = run("Olá {{ name }}", {"name": "Inês ✅"}, unicode=False)
    assert isinstance(result, Skip)
    assert result.reason is SkipReason.ENCODING


def test_provider_template_values_follow_variables_order() -> None:
    result = run(
        "Dear {{ name }}, {{ pct }}% off",
        {"name": "Asha", "pct": "30"},
        provider_template={"id": "1507165650000000000", "variables": ["pct", "name"]},
    )
    assert isinstance(result, Rendered)
    assert result.custom == ("30", "Asha")


def test_aoc_unicode_flag_follows_the_encoding_exactly() -> None:
    template = Template.model_validate({"category": "transactional", "body": "x"})
    recipient = Recipient.contact("+919820012345", "IN", {}, WHERE)
    for text, ucs2 in (("plain text", False), ("नमस्ते", True), ("ç", True), ("Ç", False)):
        rendered = run(text, {})
        assert isinstance(rendered, Rendered)
        message = message_for(rendered, recipient, template)
        assert message == Message("+919820012345", text, "transactional", ucs2=ucs2, region="IN")


ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ name.__class__ }}",
    "{{ name['__class__'] }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
]
RUNTIME_ESCAPES = [
    "{{ name.format.__self__ }}",
    "{{ (name|attr('__class__')) }}",
    "{{ ''.format.__func__ }}",
]


@pytest.mark.parametrize("body", ESCAPES + RUNTIME_ESCAPES)
def test_sandbox_escapes_never_render(body: str) -> None:
    result = run(body, {"name": "Sam"})
    assert isinstance(result, Skip), result
    assert result.reason is SkipReason.RENDER_ERROR
    assert "class" not in getattr(result, "text", "")


@pytest.mark.parametrize("body", ESCAPES)
def test_sandbox_escapes_are_refused_by_validate(
    body: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f'templates:\n  t:\n    category: otp\n    body: "{body}"\n')
    assert main(["validate", str(config)]) == 1
    err = capsys.readouterr().err
    assert (
        f"{config}:4:11: template 't': templates are sandboxed and may not use private attributes"
        in err
    )


def test_a_render_error_quoting_data_masks_numbers_and_is_cut() -> None:
    """An exception's text may quote the recipient's data: numbers masked, length bounded."""
    from smsops.render.renderer import MAX_DETAIL

    for ref in ("{+447400123999" + "y" * 500 + "}", "{+447400123456}", "{x447400123456}"):
        result = run("{{ ref.format() }}", {"ref": ref})  # KeyError quoting the field
        assert isinstance(result, Skip), result
        assert result.reason is SkipReason.RENDER_ERROR
        assert "447400123" not in result.detail, result.detail
        assert len(result.detail) <= MAX_DETAIL
