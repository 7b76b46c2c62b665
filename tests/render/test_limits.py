"""The render bounds, in-process: each bomb stops before it allocates, at the documented
value; real templates render exactly as stock Jinja renders them.

tests/attacks/test_templates.py runs the main bombs through the CLI; here are
their variants, the exact edges of each bound, and parity with Jinja.
"""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from smsops.config.models import Schedule, Template
from smsops.core.errors import Location, RenderLimitExceeded
from smsops.core.recipient import Recipient
from smsops.core.skips import Skip, SkipReason
from smsops.render import limits
from smsops.render.checks import trial_render
from smsops.render.environment import environment, variables_of
from smsops.render.renderer import TOO_DEEP, CompiledTemplate, Rendered, render

VALUES = {"name": "Sam", "reps": "3", "items": ["a", "b"], "people": [{"n": "x"}, {"n": "y"}]}
# What a bomb may allocate before it is refused: far below what it asks for.
PEAK_BYTES = 4 * 2**20


def _render(body: str, **values: Any) -> str:
    return environment().from_string(body).render({**VALUES, **values})


BOMBS = {
    "{{ 'a' * 1000000000 }}": limits.TEXT,
    "{{ 1000000000 * 'a' }}": limits.TEXT,
    "{{ [1, 2] * 600000000 }}": limits.TEXT,
    "{{ ('a' * 6000) + ('b' * 6000) }}": limits.TEXT,
    "{{ ('a' * 6000) ~ ('b' * 6000) }}": limits.TEXT,
    "{{ 2 ** 999999999 }}": limits.INT_BITS,
    "{{ (2 ** 9000) * (2 ** 9000) }}": limits.INT_BITS,
    "{% for i in range(100001) %}{% endfor %}": limits.RANGE,
    "{% for i in range(10000) %}{% for j in range(2) %}{% endfor %}{% endfor %}": limits.STEPS,
    "{% for x in range(100) recursive %}{% if x %}{{ loop(range(x)) }}{% endif %}{% endfor %}": (
        limits.STEPS
    ),
    "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}": (
        limits.STEPS
    ),
    # A scoped block renders with a derived context, which charges the same budget.
    "{% for i in range(100) %}{% block b scoped %}{% for j in range(100) %}{% endfor %}"
    "{% endblock %}{% endfor %}": limits.STEPS,
    "{% for i in range(9999) %}" + "z" * 20 + "{% endfor %}": limits.WRITTEN,
    "{% for i in range(9999) %}{{ name * 10 }}{% endfor %}": limits.WRITTEN,
    "{% macro m() %}{{ 'q' * 9000 }}{% endmacro %}{% for i in range(20) %}{{ m() }}{% endfor %}": (
        limits.WRITTEN
    ),
    "{{ ('x ' * 4000)|wordwrap(1, true, name * 99) }}": limits.TEXT,
    "{{ name|center(10001) }}": limits.TEXT,
    "{{ ('a\\n' * 5000)|indent(3) }}": limits.TEXT,
    "{{ 'a'|indent(10001, true) }}": limits.TEXT,
    "{{ '%10001s'|format(name) }}": limits.WIDTHS,
    "{{ '%(name)5000s%(name)5001s'|format(name=name) }}": limits.WIDTHS,
    "{{ '%.20000f' % 1.5 }}": limits.WIDTHS,
    "{{ '%*s' % (999999999, name) }}": limits.STAR_WIDTH,
    "{{ '{:>999999999}'.format(name) }}": limits.WIDTHS,
    "{{ '{:>{w}}'.format(name, w=999999999) }}": limits.WIDTHS,
    "{{ '{0:>6000}{0:>6000}'.format(name) }}": limits.WIDTHS,
    "{{ '{n:>999999}'.format_map({'n': name}) }}": limits.WIDTHS,
    "{{ name.ljust(999999999) }}": limits.TEXT,
    "{{ name.rjust(999999999) }}": limits.TEXT,
    "{{ name.center(999999999) }}": limits.TEXT,
    "{{ name.zfill(999999999) }}": limits.TEXT,
    "{{ ('\\t' * 100).expandtabs(999999) }}": limits.TEXT,
    "{{ ('a' * 9000).replace('', 'bbbbbbbbbb') }}": limits.TEXT,
    "{{ ('a' * 100).replace('a', 'b' * 101) }}": limits.TEXT,
    "{{ ('a' * 100)|replace('a', 'b' * 101) }}": limits.TEXT,
    "{{ range(10000)|join('x' * 9000) }}": limits.TEXT,
    "{{ ('x' * 5000).join(['a'] * 5000) }}": limits.TEXT,
    "{{ 'ab'.translate({97: 'y' * 9000}) }}": limits.TEXT,
    "{{ 1 .to_bytes(999999999, 'big') }}": limits.TEXT,
    "{{ [1]|batch(999999999, 0)|list }}": limits.TEXT,
    "{{ [1]|slice(999999999)|list }}": limits.TEXT,
    "{{ lipsum(11, false, 20, 100) }}": limits.LIPSUM,
    "{{ [1, 2]|tojson(999999999) }}": limits.JSON_INDENT,
    "{{ [name]|tojson(' ' * 17) }}": limits.JSON_INDENT,
    "{{ 'm' * 6000 }}{{ 'm' * 6000 }}": limits.MESSAGE,
    # Containers that hold one value many times weigh what printing them would make.
    "{% set ns = namespace(a=[name]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}"
    "{% endfor %}{{ ns.a }}": limits.TEXT,
    "{% set a0 = [name, name] %}"
    + "".join(f"{{% set a{i + 1} = [a{i}, a{i}] %}}" for i in range(60))
    + "{{ a60 }}": limits.TEXT,
    "{% set h = namespace(n=namespace(a=1)) %}{% for i in range(60) %}"
    "{% set h.n = namespace(a=[h.n, h.n]) %}{% endfor %}{{ h.n }}": limits.TEXT,
    "{% set ns = namespace(t=(1,)) %}{% for i in range(60) %}{% set ns.t = (ns.t, ns.t) %}"
    "{% endfor %}{{ [ns.t]|unique|list }}": limits.TEXT,
    "{% set ns = namespace(d={}) %}{% for i in range(60) %}{% set ns.d = dict(a=ns.d, b=ns.d) %}"
    "{% endfor %}{{ ns.d }}": limits.TEXT,
    "{% set ns = namespace(a=[name]) %}{% for i in range(60) %}{% set ns.a = ns.a + ns.a %}"
    "{% endfor %}{{ ns.a|length }}": limits.TEXT,
    "{% set ns = namespace(a=[name]) %}{% for i in range(60) %}{% set ns.a = [ns.a] * 2 %}"
    "{% endfor %}{{ ns.a|length }}": limits.TEXT,
    "{{ [['x' * 9000]] * 2 }}": limits.TEXT,
    "{{ range(10000)|map(attribute='x', default='y' * 9000)|list|length }}": limits.TEXT,
    # Each result within bounds, too many of them per message.
    "{{ range(10000)|map('center', 9999)|list|length }}": limits.MADE,
    "{% for i in range(10000) %}{% set x = name|center(9999) %}{% endfor %}": limits.MADE,
    "{% for i in range(10000) %}{% set x = name.center(9999) %}{% endfor %}": limits.MADE,
    "{% for i in range(10000) %}{% set x = 'q' * 9999 %}{% endfor %}": limits.MADE,
    "{% for i in range(10000) %}{% set x = name ~ ('q' * 9000) %}{% endfor %}": limits.MADE,
    "{% set ns = namespace(s=name) %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s }}": limits.TEXT,
    # Filters that grow their input a constant times, chained (every filter is sized).
    "{{ ('\\\\' * 9000)" + "|pprint" * 16 + " }}": limits.TEXT,
    "{{ ('<' * 2000)|forceescape|forceescape }}": limits.TEXT,
    "{% set ns = namespace(x='&' * 9000) %}{% for i in range(2000) %}"
    "{% set ns.x = ns.x|forceescape %}{% endfor %}": limits.TEXT,
    "{{ ('&' * 2001)|escape }}": limits.TEXT,
    "{{ range(10000)|map('string')|map('center', 50)|map('upper')|list|length }}": limits.MADE,
}


@pytest.mark.parametrize("body", list(BOMBS))
def test_a_bomb_stops_at_its_bound_before_allocating(body: str) -> None:
    compiled = CompiledTemplate("t", _template(body), environment().from_string(body), frozenset())
    values = {**compiled.globals, **VALUES}
    tracemalloc.start()
    try:
        with pytest.raises(RenderLimitExceeded) as raised:
            compiled.render(values)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert raised.value.bound == BOMBS[body]
    assert peak < PEAK_BYTES, f"{peak:,} bytes allocated before the bound stopped it"


@pytest.mark.parametrize(
    ("at_bound", "past_bound"),
    [
        ("{{ 'a' * 10000 }}", "{{ 'a' * 10001 }}"),
        ("{{ range(10000)|length }}", "{{ range(10001)|length }}"),
        (
            "{% for i in range(10000) %}{% endfor %}",
            "{% for i in range(5000) %}{% endfor %}" * 2 + "{% for i in [1] %}{% endfor %}",
        ),
        ("{{ '%10000s'|format(name) }}", "{{ '%10001s'|format(name) }}"),
        ("{{ 2 ** 10000 > 0 }}", "{{ 2 ** 10001 > 0 }}"),
        ("{{ lipsum(10, false, 20, 100)|length > 0 }}", "{{ lipsum(10, false, 20, 101) }}"),
    ],
)
def test_each_bound_is_inclusive(at_bound: str, past_bound: str) -> None:
    _render(at_bound)
    with pytest.raises(RenderLimitExceeded):
        _render(past_bound)


def test_a_macro_calling_itself_is_a_recursion_skip() -> None:
    result = _run("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}")
    assert result == Skip(SkipReason.RENDER_ERROR, TOO_DEEP, WHERE)


def test_a_bound_is_a_render_error_skip_naming_it_not_the_data() -> None:
    result = _run("{{ name * 5000 }}", name="Secret-ish")
    assert isinstance(result, Skip)
    assert result.reason is SkipReason.RENDER_ERROR
    assert result.detail == (
        "the template exceeds the render bound on the length of a text or list (10,000)"
    )


def test_an_unknown_codec_is_a_skip_not_a_crash() -> None:
    result = _run("{{ name.encode('no-such-codec') }}")
    assert isinstance(result, Skip)
    assert result.detail.startswith("LookupError")


@pytest.mark.parametrize(
    "body",
    [
        "{{ name|format }} {{ '%s is %d%%'|format(name, 5) }} {{ '%(a)s'|format(a=1) }}",
        "{{ '%-8s|%5.2f|%03d' % (name, 3.14159, 7) }} {{ 7 % 3 }} {{ '%s' % items }}",
        "{{ items|join(', ') }} {{ people|join('/', attribute='n') }} {{ [1, 2]|join }}",
        "{{ 'one two three four five'|wordwrap(9) }}|{{ 'a-b c'|wordwrap(2, false, '<>') }}",
        "{{ 'x\\n\\ny'|wordwrap(3) }}|{{ ''|wordwrap }}|{{ 'p\\nq'|wordwrap(1, true, '~') }}",
        "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent('> ', blank=true) }}",
        "{{ name|center(9) }}|{{ name|center }}|{{ 'aXbX'|replace('X', '-') }}|{{ 'aaa'|replace('a', 'b', 2) }}",
        "{{ [1, 2, 3, 4, 5]|batch(2, 0)|list }} {{ [1, 2, 3, 4, 5]|batch(2)|list }}",
        "{{ [1, 2, 3, 4, 5]|slice(3)|list }} {{ [1, 2, 3, 4]|slice(3, 'x')|list }}",
        "{{ 'a' ~ 1 ~ none ~ items }} {{ name * 2 }} {{ 2 * 3 }} {{ [0] * 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }}",
        "{{ 'ab' + 'c' }} {{ [1] + [2] }} {{ 1 + 2.5 }} {{ (1, 2) + (3,) }} {{ -2 ** 3 }}",
        "{{ '{} {:>6} {n:^7}'.format(name, 'r', n='c') }} {{ '{0[0]}'.format(items) }}",
        "{{ '{n:*<5}'.format_map({'n': name}) }} {{ name.ljust(5) }}{{ name.zfill(6) }}",
        "{{ 'a\\tb'.expandtabs(4) }} {{ 'aaa'.replace('a', 'bb') }} {{ '-'.join(items) }}",
        "{% for i in range(3) %}{{ loop.index }}/{{ loop.length }}{{ ',' if not loop.last }}{% endfor %}",
        "{% for x in [1, [2, [3]]] recursive %}{% if x is iterable %}[{{ loop(x) }}]{% else %}{{ x }}{% endif %}{% endfor %}",
        "{% macro hi(n) %}Hi {{ n }}{{ caller() }}{% endmacro %}{% call hi(name) %}!{% endcall %}",
        "{% set ns = namespace(t='') %}{% for i in items %}{% set ns.t = ns.t ~ i %}{% endfor %}{{ ns.t }}",
        "{% for i in [] %}x{% else %}empty{% endfor %} {% for a, b in [(1, 2)] %}{{ a + b }}{% endfor %}",
        "{% filter upper %}{{ name }}{% endfilter %} {% set s %}{{ name }}!{% endset %}{{ s }}",
        "{{ lipsum(2, false, 5, 6)|wordcount > 0 }} {{ range(2, 8, 3)|list }} {{ 'é'|length }}",
        "{% for i in range(3) %}{% block b scoped %}<{{ i }}>{% endblock %}{% endfor %}",
        "{{ people|tojson }} {{ people|tojson(2) }} {{ {'a': [1, name]}|tojson('\t') }}",
    ],
)
def test_real_templates_render_as_stock_jinja(body: str) -> None:
    stock = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    assert _render(body) == stock.from_string(body).render(VALUES)


@pytest.mark.parametrize(
    "body",
    [
        "{% set l = ['a'] %}{{ l.append(1) }}",
        "{% set l = [1] %}{% for i in range(40) %}{{ l.extend(l) }}{% endfor %}",
        "{{ recipient.update({'phone': 'x'}) }}",
        "{% set d = {'a': [1]} %}{{ d['a'].clear() }}",
    ],
)
def test_values_cannot_be_changed_in_place(body: str) -> None:
    # A list that grew behind its weight's back could double unseen, so the
    # sandbox is the immutable one: its mutating methods are refused.
    result = _run(body)
    assert isinstance(result, Skip)
    assert result.detail.startswith("refused by the sandbox"), result.detail


def test_the_trial_render_reports_only_bounds() -> None:
    assert trial_render("{{ name * 100000 }}", {"name"}) == (
        "exceeds the render bound on the length of a text or list (10,000)"
    )
    assert trial_render("{% for i in range(10**9) %}{% endfor %}", set()) is not None
    # Errors that depend on the data are the renderer's to report, per recipient.
    assert trial_render("{{ name + 1 }} {{ name|int * 'a' }}", {"name"}) is None
    assert trial_render("{{ name * reps|int }}", {"name", "reps"}) is None
    assert trial_render("Hi {{ name }} {{ now.year }} {{ recipient.region }}", {"name"}) is None


# The renderer's helpers, as tests/render/test_renderer.py builds them.
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
WHERE = Location(Path("people.csv"), row=2)


def _template(body: str) -> Template:
    return Template.model_validate({"category": "transactional", "body": body})


def _run(body: str, **variables: str) -> Rendered | Skip:
    compiled = CompiledTemplate(
        "t", _template(body), environment().from_string(body), frozenset(variables_of(body))
    )
    schedule = Schedule.model_validate({"template": "t", "audience": "a", "provider": "p"})
    recipient = Recipient.contact("+447400123456", "GB", {"name": "Sam", **variables}, WHERE)
    return render(compiled, "s", schedule, recipient, "once", NOW)
