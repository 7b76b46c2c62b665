"""`defaults.opt_out` keywords (STOP / START), the confirmation template, `respect_opt_out`."""

from __future__ import annotations

from pathlib import Path

import pytest

from smsops.cli import main
from smsops.config.models import OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS, OptOut, keyword
from smsops.engine.project import load_project

HEAD = """\
providers:
  ot: {type: opentact, token: "${env:OT}", from: "+12017771234"}
audiences:
  people: {contacts: [{phone: "+447400123456", name: Sam}]}
templates:
  note: {category: transactional, body: 'Hi'}
schedules:
  s: {template: note, audience: people, provider: ot, respect_opt_out: true}
"""


def write(tmp_path: Path, defaults: str) -> Path:
    root = tmp_path / "config"
    root.mkdir(exist_ok=True)
    (root / "smsops.yaml").write_text(HEAD + defaults)
    return root


def test_the_defaults_are_the_usual_words() -> None:
    found = OptOut()
    assert found.keywords == list(OPT_OUT_KEYWORDS)
    assert {"OPT OUT", "STOPALL"} <= set(found.keywords)
    assert found.opt_in_keywords == ["START", "UNSTOP", "YES"] == list(OPT_IN_KEYWORDS)
    assert found.confirm_template is None


@pytest.mark.parametrize(
    ("text", "word"),
    [("  stop ", "STOP"), ("Opt   out", "OPT OUT"), ("\tUnStop\n", "UNSTOP"), ("", "")],
)
def test_a_keyword_is_compared_trimmed_collapsed_and_in_any_case(text: str, word: str) -> None:
    assert keyword(text) == word


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("\uff33\uff34\uff2f\uff30", "STOP"),  # fullwidth, as East Asian keyboards type it
        ("\u200bSTOP", "STOP"),  # a zero-width space a phone's keyboard left in front
        ("\ufeffstop\u200d", "STOP"),  # a byte-order mark, a zero-width joiner
        ("OPT\u00a0OUT", "OPT OUT"),  # a no-break space
        ("stop please", "STOP PLEASE"),  # still compared whole: no keyword
    ],
)
def test_a_keyword_is_compared_as_a_person_reads_it(text: str, word: str) -> None:
    """A STOP that looks like STOP on the phone is STOP: an opt-out missed is a carrier
    complaint, a text the person was told they would not get."""
    assert keyword(text) == word


def test_configured_keywords_and_confirm_template_load(tmp_path: Path) -> None:
    defaults = (
        "defaults:\n  opt_out: {keywords: [STOP, 'arrêt'], opt_in_keywords: [start],"
        " confirm_template: note}\n"
    )
    config = load_project(write(tmp_path, defaults))
    opt_out = config.opt_out()
    assert opt_out.keywords == ["STOP", "arrêt"]
    assert opt_out.stops == {"STOP", "ARRÊT"}
    assert opt_out.confirm_template == "note"
    assert config.schedules["s"].respect_opt_out is True


@pytest.mark.parametrize(
    ("defaults", "said"),
    [
        ("{keywords: []}", "at least one opt-out keyword"),
        ("{opt_in_keywords: []}", "at least one opt-in keyword"),
        ("{keywords: ['  ']}", "a keyword cannot be empty or blank"),
        ("{keywords: [STOP], opt_in_keywords: [' stop ']}", "both an opt-out and an opt-in"),
        ("{keywords: [" + ", ".join(f"K{i}" for i in range(51)) + "]}", "at most 50 keywords"),
        ("{keywords: [" + "x" * 41 + "]}", "at most 40 characters"),
        ("{confirm_template: nope}", "no template named 'nope'"),
    ],
    ids=["no-out", "no-in", "blank", "overlap", "too-many", "too-long", "unknown-template"],
)
def test_bad_keywords_are_located_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], defaults: str, said: str
) -> None:
    root = write(tmp_path, f"defaults:\n  opt_out: {defaults}\n")
    assert main(["validate", str(root)]) == 1
    err = capsys.readouterr().err
    assert f"{root / 'smsops.yaml'}:10:" in err
    assert said in err
    assert "Traceback" not in err
