"""The render shortcut (Jinja internals) gives exactly what the public `Template.render` gives.

`CompiledTemplate.render` builds Jinja's context and calls the compiled
`root_render_func` itself (render/renderer.py), which only Jinja 3.1 was
verified against (pyproject.toml bounds it to <3.2). These properties run
both over generated templates — text, expressions, filters, tests, loops,
conditions, macros, blocks, `set`, the sandbox's refusals, undefined names —
and generated values, and demand the same text, or the same error with the
same message. A Jinja release that changes what the shortcut relies on fails
here before it renders a wrong message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from jinja2 import TemplateSyntaxError, meta

from smsops.config.models import Template
from smsops.render.environment import (
    compiled,
    environment,
    parsed,
    private_attributes,
    private_names,
    variables_of,
)
from smsops.render.renderer import CompiledTemplate

NAMES = ("name", "order", "count", "items", "info")

# Literal text: anything but braces (a template's own syntax) and `#`/`%` after one.
literal = st.text(st.sampled_from("abc XYZ,.!?-_:;'\"\n\té€😀"), max_size=12)
name = st.sampled_from((*NAMES, "missing"))  # "missing" is never given: StrictUndefined
value_expr = st.one_of(
    name,
    name.map(lambda n: f"{n}.upper()"),
    name.map(lambda n: f"{n}[0]"),
    name.map(lambda n: f"{n}.__class__"),  # the sandbox refuses it
    name.map(lambda n: f"{n}._private"),
    st.integers(-5, 5).map(str),
    literal.map(repr),
)
filtered = st.builds(
    lambda expr, flt: f"({expr}) | {flt}",
    value_expr,
    st.sampled_from(
        (
            "upper",
            "lower",
            "title",
            "trim",
            "length",
            "string",
            "int",
            "first",
            "join('-')",
            "default('none')",
            "replace('a', 'b')",
            "format()",
            "truncate(5, true, '…')",
            "wordcount",
            "reverse | list | join",
            "attr('real')",
        )
    ),
)
expression = st.one_of(
    value_expr,
    filtered,
    st.builds(lambda a, b: f"{a} ~ {b}", value_expr, value_expr),
    st.builds(lambda a, b: f"{a} + {b}", value_expr, value_expr),
    st.builds(lambda a: f"dict(k={a})['k']", value_expr),
    st.builds(lambda a: f"namespace(n={a}).n", value_expr),
    st.builds(lambda a: f"{a} is defined", name),
    st.builds(lambda a: f"{a} is string", value_expr),
    st.just("range(3) | list"),
    st.just("cycler('x', 'y').next()"),
)


def _blocks(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Statements wrapping generated pieces."""
    return st.one_of(
        st.builds(
            lambda c, a, b: f"{{% if {c} %}}{a}{{% else %}}{b}{{% endif %}}",
            expression,
            children,
            children,
        ),
        st.builds(
            lambda n, body: (
                f"{{% for x in range({n}) %}}{{{{ x }}}}{{{{ loop.index }}}}{body}{{% endfor %}}"
            ),
            st.integers(0, 3),
            children,
        ),
        st.builds(
            lambda seq, body: f"{{% for x in {seq} %}}[{{{{ x }}}}]{body}{{% endfor %}}",
            name,
            children,
        ),
        st.builds(lambda e, body: f"{{% set y = {e} %}}{body}{{{{ y }}}}", expression, children),
        st.builds(lambda body: f"{{% filter upper %}}{body}{{% endfilter %}}", children),
        st.builds(
            lambda body, e: (
                f"{{% macro m(a) %}}<{{{{ a }}}}{body}>{{% endmacro %}}{{{{ m({e}) }}}}"
            ),
            children,
            expression,
        ),
        st.builds(lambda body: f"{{% block b %}}{body}{{% endblock %}}", children),
        st.builds(lambda a, b: a + b, children, children),
    )


piece = st.one_of(literal, expression.map(lambda e: f"{{{{ {e} }}}}"))
bodies = st.recursive(piece, _blocks, max_leaves=8).filter(lambda body: body.count("block b") <= 1)

scalar = st.one_of(st.text(max_size=8), st.integers(-1000, 1000), st.booleans(), st.none())
values = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=10),
        "order": st.one_of(st.text(max_size=10), st.integers(0, 99)),
        "count": st.integers(-3, 3),
        "items": st.lists(scalar, max_size=3),
        "info": st.dictionaries(st.sampled_from(("a", "b")), scalar, max_size=2),
    },
)


def _compiled(body: str) -> CompiledTemplate:
    # unvalidated: an empty body is a fine template here (the config refuses it elsewhere)
    config = Template.model_construct(category="transactional", body=body)
    return CompiledTemplate(
        "t", config, environment().from_string(body), frozenset(variables_of(body))
    )


def _outcome(render: Callable[[], str]) -> str:
    try:
        return render()
    except Exception as exc:  # the same error, with the same message, is the property
        return f"{type(exc).__name__}: {exc}"


# Always tried besides the generated ones: texts and each kind of error (checked below).
EXAMPLES = [
    ("Hi {{ name }}, {{ order | upper }}", {"name": "Sam", "order": "a-1"}, "Hi Sam, A-1"),
    (
        "{% block b %}{{ name }}{% endblock %}{% macro m(a) %}<{{ a }}>{% endmacro %}{{ m(order) }}",
        {"name": "Sam", "order": 7},
        "Sam<7>",
    ),
    ("{% for x in items %}{{ loop.index }}{{ x }}{% endfor %}", {"items": ["a", None]}, "1a2None"),
    ("{{ missing }}", {}, "UndefinedError: "),
    ("{{ name.__class__ }}", {"name": "Sam"}, "SecurityError: "),
    ("{{ count + name }}", {"count": 1, "name": "x"}, "TypeError: "),
]


def _with_examples(test: Callable[..., None]) -> Callable[..., None]:
    for body, given_values, _ in EXAMPLES:
        test = example(body=body, given_values=given_values)(test)
    return test


def _shortcut(compiled: CompiledTemplate, given_values: dict[str, Any]) -> str:
    """The shortcut as renderer.render calls it: the values on top of a copy of the globals."""
    return _outcome(lambda: compiled.render({**compiled.globals, **given_values}))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@_with_examples
@given(body=bodies, given_values=values)
def test_the_shortcut_renders_what_template_render_renders(
    body: str, given_values: dict[str, Any]
) -> None:
    """Same text or same error; twice alike, leaving no trace in the template's globals."""
    compiled = _compiled(body)
    before = dict(compiled.globals)
    expected = _outcome(lambda: compiled.template.render(given_values))
    assert _shortcut(compiled, given_values) == expected
    assert _shortcut(compiled, given_values) == expected
    assert compiled.globals == before


@pytest.mark.parametrize(("body", "given_values", "expected"), EXAMPLES)
def test_the_examples_reach_every_kind_of_outcome(
    body: str, given_values: dict[str, Any], expected: str
) -> None:
    """Texts and each error the shortcut must reproduce are always among the cases."""
    outcome = _shortcut(_compiled(body), given_values)
    if expected.endswith("Error: "):
        assert outcome.startswith(expected)
    else:
        assert outcome == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(body='{{ x["_a" ~ "b"] }}{{ y["_c"] }}', given_values={})  # folded by a tracking walk
@example(body="{{ name ", given_values={})  # a syntax error: raised each time, never kept
@_with_examples
@given(body=bodies, given_values=values)
def test_a_body_parsed_and_compiled_once_answers_as_a_fresh_one(
    body: str, given_values: dict[str, Any]
) -> None:
    """render.environment keeps each body's variables, tree and compiled template: every
    answer, asked in either order and twice, is what a fresh parse or compile gives."""
    try:
        fresh = environment().from_string(body)
    except TemplateSyntaxError:
        for ask in (variables_of, parsed, compiled, variables_of):
            with pytest.raises(TemplateSyntaxError):
                ask(body)
        return
    private = private_names(environment().parse(body))  # a parse of its own
    variables = set(meta.find_undeclared_variables(environment().parse(body)))
    for _ in range(2):
        assert private_attributes(body) == private  # the kept tree is never folded
        assert variables_of(body) == variables
        assert _outcome(lambda: compiled(body).render(given_values)) == _outcome(
            lambda: fresh.render(given_values)
        )
