"""Hostile templates: each bomb is a located `validate` error, or a `render_error` skip
naming the bound, within bounded time and memory, never a hang or a traceback.

Every case runs the CLI in a fresh process capped at the harness's memory
(`run_cli`), through `validate` and `plan` (and `render` where a recipient
is skipped rather than the config refused). The bounds are in
`smsops/render/limits.py` and docs/security.md (Render bounds); the many
smaller variants of each bomb are checked in-process by tests/render.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.attacks.harness import BASE_NUMBERS, BASE_PROVIDERS, run_cli, write_config

# Every attack must finish well inside the harness's limit: bounded, not slow.
SECONDS = 15.0
LOCATED = r"config/templates\.yaml:\d+:\d+: template 'hostile': "

TEXT = re.escape("the length of a text or list (10,000)")
RANGE = re.escape("range() length (10,000)")
STEPS = re.escape("loop iterations and macro calls per message (10,000)")
WRITTEN = re.escape("characters written by loops and macros per message (100,000)")
WIDTHS = re.escape("format widths and precisions (10,000)")


def _config(tmp_path: Path, body: str, reps: str = "1") -> Path:
    """The base providers, a template `hostile` with `body`, two inline contacts."""
    quoted = body.replace("\\", "\\\\").replace('"', '\\"')
    return write_config(
        tmp_path,
        {
            "providers.yaml": BASE_PROVIDERS,
            "templates.yaml": f"""\
                templates:
                  hostile:
                    category: transactional
                    body: "{quoted}"
                """,
            "rest.yaml": f"""\
                audiences:
                  people:
                    contacts:
                      - {{phone: "{BASE_NUMBERS[0]}", name: Sam, reps: "{reps}"}}
                      - {{phone: "{BASE_NUMBERS[1]}", name: Alex, reps: "2"}}
                schedules:
                  greet:
                    template: hostile
                    audience: people
                    provider: ses
                """,
        },
    )


# Templates whose bomb does not depend on the data: refused by `validate`
# (and so by `plan`) at the template's place, naming the bound broken.
REFUSED = {
    "string multiplication": ("{{ 'a' * 1000000000 }}", TEXT),
    "list multiplication": ("{{ ([name] * 1000000000)|length }}", TEXT),
    "range(10**9)": ("{% for i in range(10**9) %}{{ i }}{% endfor %}", RANGE),
    "nested range(100000)": (
        "{% for i in range(100000) %}{% for j in range(100000) %}.{% endfor %}{% endfor %}",
        RANGE,
    ),
    "wordwrap bomb": ("{{ ('x ' * 10**7)|wordwrap(1) }}", TEXT),
    "center bomb": ("{{ name|center(999999999) }}", TEXT),
    "indent bomb": ("{{ ('a\\n' * 5000)|indent(name * 3000) }}", TEXT),
    "format filter width": ("{{ '%999999999s'|format(name) }}", WIDTHS),
    "percent operator width": ("{{ '%999999999s' % name }}", WIDTHS),
    "macro calling itself": (
        "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        "recurses too deeply",
    ),
    "huge output via loops": ("{% for i in range(10000) %}{{ 'y' * 9999 }}{% endfor %}", WRITTEN),
    "lipsum(10**6)": ("{{ lipsum(10**6) }}", r"lipsum\(\) words \(1,000\)"),
    "5,000 nested brackets": ("{{ " + "[" * 5000 + "]" * 5000 + " }}", "nested too deeply"),
    "[1, 2]|tojson(999999999), folded at compile time": (
        "{{ [1, 2]|tojson(999999999) }}",
        re.escape("tojson indent (16)"),
    ),
    "a list holding itself twice, 60 times over": (
        "{% set ns = namespace(a=[name]) %}{% for i in range(60) %}"
        "{% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ ns.a }}",
        TEXT,
    ),
    "a filter pipeline making 100 MB": (
        "{{ range(10000)|map('center', 9999)|list|length }}",
        re.escape("characters made by repeating, padding and joining per message (1,000,000)"),
    ),
    "pprint sixteen times over": ("{{ ('\\\\' * 9000)" + "|pprint" * 16 + " }}", TEXT),
    "forceescape in a loop": (
        "{% set ns = namespace(x='&' * 9000) %}{% for i in range(2000) %}"
        "{% set ns.x = ns.x|forceescape %}{% endfor %}{{ ns.x|length }}",
        TEXT,
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_template_bomb_is_a_located_error(tmp_path: Path, case: str) -> None:
    body, bound = REFUSED[case]
    config = _config(tmp_path, body)
    for command in ("validate", "plan"):
        outcome = run_cli([command, str(config)], cwd=tmp_path)
        outcome.assert_safe(
            code=1, located=LOCATED + r".*" + bound, numbers=BASE_NUMBERS, max_seconds=SECONDS
        )
        assert "nothing was sent" in outcome.output


# Bombs that only the data sets off: `validate` cannot know (every variable is
# a short placeholder there), so the recipient whose values break a bound is
# skipped with `render_error` naming it, and the other recipient is planned.
SKIPPED = {
    "repetition count from the data": ("{{ name * reps|int }}", "100000000", TEXT),
    "loop length from the data": (
        "{% for i in range(reps|int) %}{% for j in range(reps|int) %}{% endfor %}{% endfor %}",
        "5000",
        STEPS,
    ),
}


@pytest.mark.parametrize("case", sorted(SKIPPED))
def test_a_bomb_in_the_data_skips_that_recipient(tmp_path: Path, case: str) -> None:
    body, reps, bound = SKIPPED[case]
    config = _config(tmp_path, body, reps)
    validated = run_cli(["validate", str(config)], cwd=tmp_path)
    validated.assert_safe(code=0, numbers=BASE_NUMBERS, max_seconds=SECONDS)
    skipped = r"config/rest\.yaml:\d+:\d+: render error: the template exceeds the render bound on "
    for command in ("plan", "render"):
        outcome = run_cli([command, str(config)], cwd=tmp_path)
        outcome.assert_safe(
            code=0, located=skipped + bound, numbers=BASE_NUMBERS, max_seconds=SECONDS
        )
        assert re.search(r"1 (to send|message)", outcome.output), outcome.output
    assert "+44 74** ***457" in outcome.output  # Alex (reps 2) is still rendered


def test_a_private_attribute_is_refused_by_validate(tmp_path: Path) -> None:
    config = _config(tmp_path, "{{ ''.__class__.__mro__[1].__subclasses__() }}")
    for command in ("validate", "plan"):
        outcome = run_cli([command, str(config)], cwd=tmp_path)
        outcome.assert_safe(
            code=1,
            located=LOCATED + "templates are sandboxed and may not use private attributes",
            numbers=BASE_NUMBERS,
            max_seconds=SECONDS,
        )


def test_a_private_attribute_reached_through_a_filter_is_refused_by_validate(
    tmp_path: Path,
) -> None:
    # `attr('__class__')` and names folded from constants are read as the sandbox reads
    # them (tests/render/test_private_names.py): refused before any recipient is tried.
    for body in ("{{ name|attr('__class__') }}", "{{ name['_' ~ '_class' ~ '__'] }}"):
        config = _config(tmp_path, body)
        outcome = run_cli(["plan", str(config)], cwd=tmp_path)
        outcome.assert_safe(
            code=1,
            located=LOCATED + "templates are sandboxed and may not use private attributes "
            r"\(__class__ on line 1 of the body\)",
            numbers=BASE_NUMBERS,
            max_seconds=SECONDS,
        )


# The recipient's number transformed: masking by spelling cannot find it, so a
# template that reads the number has its sample texts withheld in every view.
TRANSFORMED = {
    "join": "{{ recipient.phone|join('-') }}",
    "reverse": "{{ recipient.phone|reverse|join }}",
    "batch": "{{ recipient.phone|list|batch(7)|list }}",
    "replace": "{{ recipient.phone|replace('4', 'four') }}",
    "int plus one": "{{ recipient.phone|int + 1 }}",
    "hex": "{{ '%x'|format(recipient.phone|int) }}",
}
WITHHELD = "(not shown: the template uses the recipient's number)"


@pytest.mark.parametrize("case", sorted(TRANSFORMED))
def test_a_transformed_number_is_never_shown(tmp_path: Path, case: str) -> None:
    config = _config(tmp_path, "Marker " + TRANSFORMED[case])
    views = [
        ["plan", "--format", "markdown", str(config)],  # the PR comment, for every transform
        ["plan", str(config)],
        ["plan", "--format", "json", str(config)],
        ["render", str(config)],
        ["render", "--format", "json", str(config)],
    ]
    # Samples are withheld where they are made (the planner, which render shares):
    # every view for one transform, the PR comment for the others (keeps the suite fast).
    for args in views if case == "join" else views[:1]:
        outcome = run_cli(args, cwd=tmp_path)
        outcome.assert_safe(code=0, numbers=BASE_NUMBERS, max_seconds=SECONDS)
        assert "Marker" not in outcome.output, (args, outcome.output)
        assert WITHHELD in outcome.output, (args, outcome.output)
        if "json" not in args:  # the counts are still shown
            assert re.search(r"2 (to send|messages)", outcome.output), (args, outcome.output)


@pytest.mark.parametrize("column", ["phone", "mobile"])
def test_a_transformed_phone_column_is_never_shown(tmp_path: Path, column: str) -> None:
    rows = "".join(f"{number},Sam\n" for number in BASE_NUMBERS)
    config = write_config(
        tmp_path,
        {
            "providers.yaml": BASE_PROVIDERS,
            "people.csv": f"{column},name\n{rows}",
            "rest.yaml": f"""\
                templates:
                  hostile:
                    category: transactional
                    body: "Marker {{{{ {column}|join('-') }}}}"
                audiences:
                  people: {{source: people.csv, phone_column: {column}}}
                schedules:
                  greet: {{template: hostile, audience: people, provider: ses}}
                """,
        },
    )
    for args in (["plan", "--format", "markdown", str(config)], ["render", str(config)]):
        outcome = run_cli(args, cwd=tmp_path)
        outcome.assert_safe(code=0, numbers=BASE_NUMBERS, max_seconds=SECONDS)
        assert "Marker" not in outcome.output, (args, outcome.output)
        assert WITHHELD in outcome.output, (args, outcome.output)


def test_a_template_without_the_number_still_shows_samples(tmp_path: Path) -> None:
    config = _config(tmp_path, "Marker {{ name }}")
    outcome = run_cli(["plan", str(config)], cwd=tmp_path)
    outcome.assert_safe(code=0, numbers=BASE_NUMBERS, max_seconds=SECONDS)
    assert "Marker Sam" in outcome.output
    assert WITHHELD not in outcome.output


@pytest.mark.parametrize(
    "body",
    [
        "{% include 'x' %}",
        "{% import 'x' as m %}",
        "{% from 'x' import y %}",
        "{% extends 'x' %}",
    ],
)
def test_include_import_and_extends_are_refused_by_validate(tmp_path: Path, body: str) -> None:
    config = _config(tmp_path, body)
    for command in ("validate", "plan"):
        outcome = run_cli([command, str(config)], cwd=tmp_path)
        outcome.assert_safe(
            code=1,
            located=LOCATED + "templates cannot include, import or extend other templates",
            numbers=BASE_NUMBERS,
            max_seconds=SECONDS,
        )
