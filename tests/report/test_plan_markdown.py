"""The PR comment shows data and template text literally: rendered as GitHub would, it
holds exactly the message texts, names and skip details, and no element, link,
mention or emphasis that came from them."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsops.core.errors import Location
from smsops.core.skips import Skip, SkipReason
from smsops.engine.plan import Disposition, Plan, Sample, SchedulePlan
from smsops.report.markdown_literal import code_block, code_span, visible
from smsops.report.markdown_parts import FIELD_CHARS, SAMPLE_CHARS
from smsops.report.plan_markdown import MARKDOWN_LIMIT, MARKER, as_markdown
from tests.report.gfm import render

# Every <em> the comment may hold is one of these notes of ours.
NOTES = re.compile(
    r"\(first [\d,]+ characters\)|\(the first [\d,]+ of [\d,]+ characters\)|\(empty\)"
    r"|[\d,]+ more schedules are not in this table\."
    r"|[\d,]+ schedules are not detailed here .*"
)
MASKED = "+44 74** ***456"

HOSTILE = {
    "mention": "Hi @octocat and @acme/team, please review",
    "image": "![x](http://evil.example/pixel.png) ![y][r]\n\n[r]: http://evil.example/r.png",
    "link": "[click here](https://evil.example/login) <https://evil.example/auto>",
    "bare URLs": "see https://evil.example/x or www.evil.example or mail@evil.example",
    "emphasis": "*em* _em_ **strong** __strong__ ***both***",
    "strikethrough": "~~gone~~ ~also~",
    "code spans": "`one` ``two ` run`` ```three``` ````",
    "fence in text": "```\n@octocat\n```\n~~~\n<img src=x>\n~~~",
    "entities": "&amp; &lt;b&gt; &#64;octocat &copy; &#x26;",
    "img HTML": '<img src=x onerror="alert(1)">',
    "details HTML": "<details><summary>open me</summary>hidden</details>",
    "script and comment": "<script>alert(1)</script><!-- hidden --> </p></td></table>",
    "table pipes": "a | b || c |",
    "newlines": "line one\nline two\n\nline four\n",
    "CR and CRLF": "a\rb\r\nc",
    "controls": "nul\x00 bell\x07 del\x7f tab\tend",
    "block syntax": "# heading\n- item\n> quote\n1. one\n---\n    indented",
    "backslashes": "ends with \\ and \\* and \\` and \\|",
    "issue refs and emoji": "#1 GH-2 acme/repo#3 :smile: deadbeefcafe",
    "spaces": "  two leading and two trailing  ",
    "bidi controls": "pay \u202e0001\u202c now \u2066x\u2069 \u200e\u200f\u061c \u2028",
}


def plan_of(
    texts: list[str],
    *,
    schedule: str = "greet",
    template: str = "hello",
    audience: str = "people",
    providers: tuple[str, ...] = ("ses",),
    skips: tuple[tuple[str, str], ...] = (),
    currency: str = "USD",
) -> Plan:
    s = SchedulePlan(
        schedule=schedule,
        template=template,
        audience=audience,
        providers=list(providers),
        occurrences=["2026-11-22T09:00:00Z"],
        next_fires=["2026-11-23T09:00:00Z"],
        counts=Counter({Disposition.NEW: len(texts)}),
        segments=len(texts),
        cost=0.5,
        priced=Counter({0.5: 1}),  # what `exact_cost`, the figure shown, is summed from
        currency=currency,
        encodings=Counter({"GSM-7": len(texts)}),
        samples=[Sample(MASKED, "2026-11-22T09:00:00Z", "GSM-7", 1, t) for t in texts],
    )
    for path, detail in skips:
        s.skip(Skip(SkipReason.MISSING_VARIABLE, detail, Location(Path(path), row=3)))
    return Plan(datetime(2026, 11, 22, 9, 30, tzinfo=UTC), [s])


def expected_spans(plan: Plan) -> list[str]:
    """The inline code a reader sees, in order: every name, masked number, path and detail."""
    spans = [s.schedule for s in plan.schedules]  # the summary table
    for s in plan.schedules:
        spans += [s.schedule, s.template, s.audience, *s.providers]
        spans += [x.masked_phone for x in s.samples]
        for k in s.skips[:10]:
            spans += [str(k.where)[:FIELD_CHARS], k.detail[:FIELD_CHARS]]
    return [visible(t, lines=False) for t in spans if t]


def check(plan: Plan) -> None:
    """The rendered comment holds exactly the literal texts and nothing from data as markup."""
    markdown = as_markdown(plan)
    assert markdown.splitlines()[0] == MARKER
    assert len(markdown) < MARKDOWN_LIMIT
    shown = render(markdown)
    shown.assert_inert(notes=NOTES)
    assert shown.comments == [" smsops-plan "]  # hidden, and it hides nothing after it
    assert shown.tags[:2] == ["h2", "p"]
    with_skips = sum(1 for s in plan.schedules if s.skips)
    assert shown.tags.count("details") == shown.tags.count("summary") == with_skips
    texts = [x.text for s in plan.schedules for x in s.samples]
    assert shown.blocks == [visible(t[:SAMPLE_CHARS], lines=True) + "\n" for t in texts]
    assert shown.spans == expected_spans(plan)


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_message_renders_as_exactly_its_text(text: str) -> None:
    check(plan_of([text, "plain", text]))


def test_every_kind_of_markup_at_once_renders_literally() -> None:
    texts = list(HOSTILE.values())
    check(plan_of(texts[:3]))
    plan = plan_of(texts[3:6])
    plan.schedules += plan_of(texts[6:9], schedule="second").schedules
    check(plan)


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_names_paths_and_skip_details_render_literally(text: str) -> None:
    plan = plan_of(
        ["Hi"],
        schedule=f"s{text}",
        template=f"t{text}",
        audience=text,
        providers=(text, "sky|ot"),
        skips=((f"data/{text}.csv", f"no value for {text}"), ("x.csv", text)),
    )
    check(plan)


BIDI = "".join(chr(c) for c in [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F)])
BIDI += "".join(chr(c) for c in range(0x2066, 0x206A)) + "\u2028\u2029"


def test_bidi_controls_show_as_code_points_so_nothing_looks_reordered() -> None:
    """A right-to-left override in a sample or a name would make a browser show the rest of
    it reversed ("Trojan Source"): each is shown as `<U+XXXX>` and none is in the HTML."""
    plan = plan_of(
        ["pay \u202e0001\u202c now", BIDI], schedule="a\u202eb", skips=(("x.csv", BIDI),)
    )
    check(plan)
    shown = render(as_markdown(plan))
    assert not [c for c in shown.html if c in BIDI]
    assert shown.blocks[0] == "pay <U+202E>0001<U+202C> now\n"
    assert shown.spans[0] == "a<U+202E>b"
    codes = "<U+061C><U+200E><U+200F><U+202A><U+202B><U+202C><U+202D><U+202E>"
    codes += "<U+2066><U+2067><U+2068><U+2069><U+2028><U+2029>"
    assert shown.blocks[1] == codes + "\n"
    assert codes in shown.spans


def test_a_hostile_currency_renders_literally() -> None:
    plan = plan_of(["Hi"], currency="@octocat <img src=x> | *EUR*")
    markdown = as_markdown(plan)
    shown = render(markdown)
    shown.assert_inert(notes=NOTES)
    assert shown.spans.count("@octocat <img src=x> | *EUR*") == 3  # summary, table, details


def test_a_plain_currency_and_plain_names_are_not_dressed_up() -> None:
    markdown = as_markdown(plan_of(["Hi"]))
    assert "| `greet` | 2026-11-22T09:00:00Z | 1 |" in markdown
    assert "about 0.5000 USD" in markdown
    assert "to `+44 74** ***456`, GSM-7, 1 segment:\n```text\nHi\n```" in markdown


def test_a_long_message_shows_its_first_part_and_says_so() -> None:
    text = "@octocat " * 400
    markdown = as_markdown(plan_of([text]))
    assert f"_(the first {SAMPLE_CHARS:,} of {len(text):,} characters)_" in markdown
    check(plan_of([text]))


def test_long_paths_and_details_are_cut_and_say_so() -> None:
    plan = plan_of(["Hi"], skips=(("d/" + "x" * 500 + ".csv", "`" * 1000),))
    markdown = as_markdown(plan)
    assert markdown.count(f"_(first {FIELD_CHARS} characters)_") == 2
    check(plan)


def test_a_fence_is_longer_than_any_backtick_run() -> None:
    assert code_block("a ````` b").startswith("``````text\n")
    assert code_span("x ``` y") == "````x ``` y````"
    assert code_span("`edge`") == "`` `edge` ``"
    assert code_span(" both ") == "`  both  `"
    assert code_span("   ") == "`   `"
    assert code_span("a|b", in_table=True) == "`a\\|b`"
    assert code_span("") == "_(empty)_"


def test_escaping_stays_inside_the_budget() -> None:
    """The worst growth: every character a pipe or backtick, in every field of 2,000 schedules."""
    schedules = []
    for i in range(2000):
        hostile = ("|`" * 150) + str(i)
        plan = plan_of(
            ["`" * 1700, "|" * 1700, "``|" * 600],
            schedule=hostile,
            template=hostile,
            audience=hostile,
            providers=(hostile, hostile),
            skips=tuple((hostile, hostile) for _ in range(12)),
            currency=hostile,
        )
        schedules += plan.schedules
    plan = Plan(datetime(2026, 11, 22, tzinfo=UTC), schedules)
    markdown = as_markdown(plan)
    assert len(markdown) < MARKDOWN_LIMIT
    assert "more schedules are not in this table" in markdown
    assert "schedules are not detailed here" in markdown
    render(markdown).assert_inert(notes=NOTES)


MARKUP = "@*_~`#[]()!<>&|\\\n\r\t :/.-=+;\"'x1\u202e\u2066"
TOKENS = [
    "@octocat",
    "http://e.example",
    "www.e.example",
    "![i](u)",
    "[l](u)",
    "<img src=x>",
    "<details>",
    "&amp;",
    "&#64;",
    "```",
    "~~",
    "**",
    "\n\n",
    "\r\n",
    "    ",
    "| --- |",
    "\\",
]
hostile_text = st.lists(st.sampled_from(TOKENS) | st.text(MARKUP, max_size=8), max_size=12).map(
    "".join
)


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(hostile_text, min_size=1, max_size=3),
    names=st.lists(hostile_text.filter(bool), min_size=4, max_size=4),
    skips=st.lists(st.tuples(hostile_text.filter(bool), hostile_text), max_size=3),
)
def test_generated_markup_always_renders_literally(
    texts: list[str], names: list[str], skips: list[tuple[str, str]]
) -> None:
    schedule, template, audience, provider = names
    check(
        plan_of(
            texts,
            schedule=schedule,
            template=template,
            audience=audience,
            providers=(provider,),
            skips=tuple(skips),
        )
    )
