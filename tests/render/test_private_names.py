"""validate's static check for private names agrees with the sandbox that refuses them.

`private_attributes` folds the names a template reaches for (subscripts and
`attr`) with Jinja's own constant folding, so `x["_a" ~ "b"]`, `x["_" + "a"]`
and `x|attr("%s"|format("_a"))` are refused by `validate`, as the sandbox
refuses them at render for every recipient. The truth each generated
expression is checked against is Jinja's stock `ImmutableSandboxedEnvironment`
(and smsops's bounded one), rendering with `x` a plain object that has every
attribute: a dict holding the key would answer the item before any attribute
is looked up, and nothing would be refused.

A key read from a variable at render (`x[y]` with y = "_a") cannot be known
statically: validate allows it and the sandbox refuses it per recipient
(the last test says so).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jinja2 import StrictUndefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from smsops.cli import main
from smsops.render.environment import environment, private_attributes


class Anything:
    """An object with every attribute, so only the sandbox's rule decides what is refused."""

    def __getattr__(self, name: str) -> Anything:
        return self


def _refusing(env: Any) -> Any:
    """`env` with each refusal raised where the sandbox decides it (`is_safe_attribute`).

    The sandbox's refusal is an undefined value that raises when used, and a
    use of it can raise another error first (`attr` of it is only undefined):
    raised at once, what is refused is plain. The template fails either way.
    """

    def unsafe_undefined(obj: Any, attribute: str) -> Any:
        raise SecurityError(f"access to attribute {attribute!r} is unsafe")

    env.unsafe_undefined = unsafe_undefined
    return env


STOCK = _refusing(ImmutableSandboxedEnvironment(undefined=StrictUndefined))
OURS = _refusing(environment().overlay())

# Constant texts that make, alone or combined, both private and public names.
PIECES = ("_", "a", "b", "_a", "__", "class", "A", "_A", " _a ", "a_", "x_y", "1")

piece = st.sampled_from(PIECES).map(repr)


def _combined(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """One step of the grammar: `~`, `+`, `*`, filters (with constant args), subscripts."""
    return st.one_of(
        st.builds(lambda a, b: f"({a} ~ {b})", children, children),
        st.builds(lambda a, b: f"({a} + {b})", children, children),
        st.builds(lambda a, n: f"({a} * {n})", children, st.integers(1, 2)),
        st.builds(lambda a, n: f"({a} ~ {n})", children, st.integers(0, 9)),
        st.builds(
            lambda a, f: f"({a}|{f})",
            children,
            st.sampled_from(("lower", "upper", "trim", "reverse", "title", "string", "first")),
        ),
        st.builds(lambda a, b: f'("%s%s"|format({a}, {b}))', children, children),
        st.builds(lambda a, b: f"({a}|replace({b}, '_'))", children, children),
        st.builds(lambda a, b: f"([{a}, {b}]|join)", children, children),
        st.builds(lambda a, b: f"([{a}, {b}]|join({b}))", children, children),
        st.builds(lambda a, b: f"(({a}, {b})|last)", children, children),
        st.builds(lambda a, i: f"({a}[{i}])", children, st.integers(-1, 1)),
        st.builds(lambda a, i: f"({a}[{i}:])", children, st.integers(0, 2)),
        st.builds(lambda a, b: f"([{a}, {b}][1])", children, children),
    )


key = st.recursive(piece, _combined, max_leaves=5)


def _access(subject: str, name: str, how: str) -> str:
    return f"{subject}[{name}]" if how == "item" else f"({subject}|attr({name}))"


access = st.builds(
    lambda k, how, inner: _access(_access("x", inner[0], inner[1]) if inner else "x", k, how),
    key,
    st.sampled_from(("item", "attr")),
    st.one_of(st.none(), st.tuples(key, st.sampled_from(("item", "attr")))),
)
# Where the access sits: printed, tested, assigned, or a filter's argument.
body = st.builds(
    lambda expr, place: place.format(expr),
    access,
    st.sampled_from(
        (
            "{{{{ {} }}}}",
            "{{% if {} %}}yes{{% endif %}}",
            "{{% set v = {} %}}{{{{ v }}}}",
            "{{{{ 'abc'|replace('b', {}) }}}}",
            "Hi\n{{{{ ({})|upper }}}}",
        )
    ),
)


def _outcome(env: Any, text: str) -> str | None:
    """Rendering `text` with `x` an object with every attribute: "refused" by the sandbox,
    "ok", or "failed" otherwise (None: it does not compile, as Jinja's folding prints an
    undefined value: `'a' ~ 'b'[5]`)."""
    try:
        template = env.from_string(text)
    except SecurityError:
        return "refused"
    except Exception:
        return None
    try:
        template.render(x=Anything())
    except SecurityError:
        return "refused"
    except Exception:  # e.g. a key of an undefined value: it fails before any refusal
        return "failed"
    return "ok"


def _refused(env: Any, text: str) -> bool:
    return _outcome(env, text) == "refused"


EXAMPLES = [
    '{{ x["_a" ~ "b"] }}',
    '{{ x["_" + "a"] }}',
    '{{ x|attr("_a") }}',
    '{{ x["%s"|format("_a")] }}',
    "{{ x[('_A'|lower ~ 'b')|trim] }}",
    "{{ x[('__' ~ 'class' ~ '__')] }}",
    "{{ x['a_b'[1:]] }}",
    "{{ x[['_', 'a']|join] }}",
    "{{ x[('a' ~ '_')|reverse] }}",
    "{{ x['_' * 2 ~ 'class' ~ '_' * 2] }}",
    '{{ x|attr("a")|attr("_" ~ "b") }}',
    "{{ x['a'][' _a '|trim] }}",
]
PUBLIC = ["{{ x['a' ~ 'b'] }}", "{{ x|attr('a_') }}", "{{ x['_a'|replace('_', '')] }}"]


@pytest.mark.parametrize("text", EXAMPLES)
def test_a_private_name_made_of_constants_is_found(text: str) -> None:
    assert _refused(STOCK, text)
    assert private_attributes(text), text


@pytest.mark.parametrize("text", PUBLIC)
def test_a_public_name_made_of_constants_is_not_found(text: str) -> None:
    assert not _refused(STOCK, text)
    assert private_attributes(text) == []


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=body)
def test_validate_refuses_exactly_what_the_sandbox_refuses(text: str) -> None:
    """What the sandbox refuses, validate refuses; what renders, validate lets through. A
    template that fails first for another reason (`x['_'[1]]['_']`: the first key is
    undefined, so the second is never looked up) fails for every recipient either way:
    validate may refuse it."""
    outcome = _outcome(STOCK, text)
    assume(outcome is not None)
    assert _outcome(OURS, text) in (outcome, None), text  # smsops's sandbox agrees
    found = bool(private_attributes(text))
    if outcome != "failed":
        assert found == (outcome == "refused"), text


def test_a_key_that_cannot_be_folded_is_no_constant() -> None:
    """Jinja's folding lets an error escape for some constants (`'b'[5]` is undefined,
    printing it raises): such a key is no name, and the others are still found."""
    assert private_attributes("{{ x['a' ~ 'b'[5]] }}{{ x[('a' ~ 'b'[5]) ~ '_'] }}") == []
    assert [p.name for p in private_attributes("{{ x['_'][('_' ~ ('_'[1]))] }}")] == ["_"]


def test_a_constant_bomb_in_a_key_is_not_built_by_the_check() -> None:
    """Folding runs through the render bounds: a huge key is left to the trial render."""
    assert private_attributes("{{ x['_' * 10**9] }}{{ x[('_' * 9999) ~ ('a' * 9999)] }}") == []


def test_the_refusal_names_the_line_of_the_body(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "templates:\n  t:\n    category: otp\n    body: |\n"
        "      Hello\n      {{ x['_' ~ 'secret'] }}\n"
    )
    assert main(["validate", str(config)]) == 1
    err = capsys.readouterr().err
    assert (
        f"{config}:4:11: template 't': templates are sandboxed and may not use private "
        "attributes (_secret on line 2 of the body)" in err
    ), err


def test_a_key_read_from_a_variable_is_left_to_the_sandbox() -> None:
    """The limit of a static check: validate allows it, the sandbox refuses it per recipient."""
    text = "{{ x[y] }}"
    assert private_attributes(text) == []
    assert _refused_with(text, y="_a")


def _refused_with(text: str, **values: Any) -> bool:
    try:
        STOCK.from_string(text).render(x=Anything(), **values)
    except SecurityError:
        return True
    return False


@pytest.mark.parametrize("expr", ["'a' ~ 'b'[5]", "'a' if 'b'[5] else 'c'"])
def test_a_constant_that_fails_while_jinja_folds_it_is_a_located_error(
    expr: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Jinja folds constants while it compiles and lets this error out: validate printed
    a traceback. It is a template error, every recipient's, so validate names it."""
    config = tmp_path / "c.yaml"
    config.write_text(f'templates:\n  t:\n    category: otp\n    body: "{{{{ {expr} }}}}"\n')
    assert main(["validate", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"{config}:4:11: template 't': " in err, err
    assert "str object has no element 5" in err
    assert "Traceback" not in err
