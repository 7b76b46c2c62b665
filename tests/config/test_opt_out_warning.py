"""`validate` warns (exit 0) when a marketing template has no opt-out phrase."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smsops.cli import main

HEAD = """\
providers:
  ot: {type: opentact, token: "${env:OT}", from: "+12017771234"}
audiences:
  people: {contacts: [{phone: "+447400123456", name: Sam}]}
"""


def write(tmp_path: Path, templates: str, defaults: str = "") -> Path:
    root = tmp_path / "config"
    root.mkdir(exist_ok=True)
    (root / "smsops.yaml").write_text(HEAD + "templates:\n" + templates + defaults)
    return root


def validate(root: Path, *extra: str) -> int:
    return main(["validate", str(root), *extra])


def test_a_marketing_template_without_an_opt_out_phrase_is_a_located_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write(tmp_path, "  promo: {category: marketing, body: 'Sale today, {{ name }}!'}\n")
    assert validate(root) == 0
    out, err = capsys.readouterr()
    yaml = root / "smsops.yaml"
    assert err.splitlines() == [
        f"{yaml}:6:38: warning: template 'promo': a marketing message with no opt-out phrase "
        "(one of: STOP, opt out, opt-out, unsubscribe, any case); add one such as "
        "'Reply STOP to opt out', or set check_opt_out: false on this template"
    ]
    assert out.strip().endswith(
        "valid (1 file: 1 provider, 1 template, 1 audience, 0 schedules; 1 warning)"
    )
    assert validate(root, "--format", "json") == 0
    found = json.loads(capsys.readouterr().out)
    assert found["valid"] is True
    assert found["warnings"] == [
        {
            "file": str(yaml),
            "line": 6,
            "column": 38,
            "message": "template 'promo': a marketing message with no opt-out phrase (one of: "
            "STOP, opt out, opt-out, unsubscribe, any case); add one such as 'Reply STOP to "
            "opt out', or set check_opt_out: false on this template",
        }
    ]


@pytest.mark.parametrize(
    "templates",
    [
        "  promo: {category: marketing, body: 'Sale! Reply stop to end.'}\n",
        "  promo: {category: marketing, body: 'Sale! Unsubscribe: example.com/u'}\n",
        "  promo: {category: marketing, body: 'Sale!', check_opt_out: false}\n",
        "  note: {category: transactional, body: 'Your order shipped.'}\n",
    ],
    ids=["stop-any-case", "unsubscribe", "switched-off", "not-marketing"],
)
def test_no_warning_when_the_phrase_is_there_or_the_check_is_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], templates: str
) -> None:
    assert validate(write(tmp_path, templates)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "warning)" not in out


def test_a_word_that_only_contains_the_phrase_is_not_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write(tmp_path, "  promo: {category: marketing, body: 'Nonstop deals!'}\n")
    assert validate(root) == 0
    assert "warning: template 'promo'" in capsys.readouterr().err


def test_the_phrases_are_configurable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    templates = "  promo: {category: marketing, body: 'Sale! Reply STOP to end.'}\n"
    defaults = "defaults:\n  opt_out: {phrases: [AFMELDEN]}\n"
    assert validate(write(tmp_path, templates, defaults)) == 0
    assert "(one of: AFMELDEN, any case)" in capsys.readouterr().err
    templates = "  promo: {category: marketing, body: 'Korting! Sms AFMELDEN naar 1234.'}\n"
    assert validate(write(tmp_path, templates, defaults)) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("phrases", "column", "said"),
    [
        ('[""]', 23, "an opt-out phrase cannot be empty or blank"),
        ("[STOP, '  ']", 29, "an opt-out phrase cannot be empty or blank"),
        ("[" + ", ".join(f"P{i}" for i in range(51)) + "]", 22, "at most 50 opt-out phrases"),
        ("[" + "x" * 101 + "]", 23, "at most 100 characters"),
    ],
    ids=["empty", "blank", "too-many", "too-long"],
)
def test_empty_blank_or_unbounded_phrases_are_located_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], phrases: str, column: int, said: str
) -> None:
    # An empty phrase matched every body: the warning was silently off.
    templates = "  promo: {category: marketing, body: 'Sale today!'}\n"
    defaults = f"defaults:\n  opt_out: {{phrases: {phrases}}}\n"
    root = write(tmp_path, templates, defaults)
    assert validate(root) == 1
    err = capsys.readouterr().err
    assert f"{root / 'smsops.yaml'}:8:{column}: " in err
    assert said in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "body",
    [
        "Sale today! {# Reply STOP to opt out #}",
        "Sale today! {{ 'Reply STOP' if false }}",
        "Sale today! {% if false %}Reply STOP to opt out{% endif %}",
    ],
    ids=["comment", "false-expression", "false-block"],
)
def test_a_phrase_never_sent_is_not_an_opt_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str
) -> None:
    # The phrase is looked for in the rendered message, not in the template's source.
    root = write(tmp_path, f'  promo: {{category: marketing, body: "{body}"}}\n')
    assert validate(root) == 0
    assert "warning: template 'promo': a marketing message with no opt-out phrase" in (
        capsys.readouterr().err
    )


def test_a_phrase_the_template_renders_is_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = "Sale, {{ name }}! {% if true %}Reply {{ 'st' ~ 'op' }} to end{% endif %}"
    root = write(tmp_path, f'  promo: {{category: marketing, body: "{body}"}}\n')
    assert validate(root) == 0
    assert capsys.readouterr().err == ""
