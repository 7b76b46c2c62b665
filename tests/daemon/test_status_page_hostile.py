"""The status page renders every name and text from a config, the ledger or a provider as text.

Hostile values (markup, attribute breakouts, Jinja syntax, RTL overrides, very long) go
through every field of the view, the daemon's reload error and the providers' hour; the
page is parsed with the standard library's HTML parser and each value must come back
whole as text (or as an attribute's value), while the only elements and attributes are
the template's own. No timing here: speed is bench/status_scale.py's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from smsops.core.terminal import BIDI_CONTROLS, printable
from smsops.daemon.provider_window import MinuteFigures, ProviderHour
from smsops.daemon.status_page import RELOAD_SCRIPT, Daemon, render_login, render_page
from smsops.engine.status import (
    STATUS_VERSION,
    Counts,
    Hold,
    NeedsPerson,
    OccurrenceStatus,
    OverLimits,
    Replica,
    ScheduleStatus,
    StatusView,
    Suppression,
    Uncertain,
    resolve_command,
)

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "{{ 7*7 }}{% raw %}",
    "\u202egnp.exe\u200f\u200e",
    "</textarea></style></title><!--",
    "&amp;&lt;&#x3C;",
    "x" * 5000,
]
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
# The template's own vocabulary: anything else parsed from the page came from a value.
TAGS = {
    "html", "head", "meta", "title", "link", "body", "header", "h1", "h2", "h3", "p",
    "strong", "time", "main", "section", "ul", "li", "span", "div", "code", "article",
    "table", "thead", "tbody", "tr", "th", "td", "svg", "rect", "form", "label", "input",
    "button", "script", "noscript", "a",
}  # fmt: skip
ATTRIBUTES = {
    "lang", "charset", "name", "content", "http-equiv", "rel", "href", "class", "id",
    "datetime", "data-field", "data-schedule", "data-occurrence", "data-status", "data-provider",
    "data-run", "tabindex", "role", "aria-label", "aria-labelledby", "viewbox",
    "preserveaspectratio", "width", "height", "x", "y", "method", "action", "for", "type",
    "autocomplete", "required", "scope",
}  # fmt: skip


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.values: list[str] = []
        self.text: list[str] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            self.attributes.add(name)
            self.values.append(value or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def parsed(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def _view(text: str) -> StatusView:
    counts = Counts.of({"sent": 3, "delivered": 2, "undelivered": 1, "failed": 1, "uncertain": 1})
    return StatusView(
        version=STATUS_VERSION,
        generated_at=NOW,
        schedules=[
            ScheduleStatus(
                name=text,
                enabled=True,
                held=[
                    Hold(reason="secret", detail=text, since=None),
                    Hold(reason="guardrail", detail=text, since=NOW),
                    Hold(reason="provider", detail=text, since=NOW),
                ],
                next_fires=[NOW + timedelta(hours=1)],
                recent=[OccurrenceStatus(occurrence=text, counts=counts, skips={"opted_out": 2})],
            )
        ],
        needs_person=NeedsPerson(
            uncertain=[
                Uncertain(
                    schedule=text,
                    occurrence=text,
                    rows=1,
                    resolve_sent=resolve_command(text, text, "sent", None),
                    resolve_failed=resolve_command(text, text, "failed", text),
                )
            ],
            uncertain_truncated=True,
            over_limits=[OverLimits(schedule=text, limits=[text])],
            suppressions=[Suppression(number="+44 74** ***456", at=NOW, source=text)],
            suppressions_total=1,
        ),
        replicas=[
            Replica(
                run=text,
                host=text,
                command=text,
                started_at=NOW,
                renewed_at=NOW,
                lease_ends=NOW,
                live=True,
                stopped=False,
            )
        ],
    )


def _providers(text: str) -> list[ProviderHour]:
    minutes = tuple(MinuteFigures(28_000_000 + i, i % 3, i % 2, 0) for i in range(60))
    return [ProviderHour(text, 60, 30, 0, 0.01, 0.2, 1.5, minutes)]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_every_field_shows_a_hostile_value_as_text_only(text: str) -> None:
    html = render_page(_view(text), Daemon(2, NOW, f"c.yaml:1:1: {text}"), _providers(text))
    page = parsed(html)
    assert page.tags <= TAGS
    assert page.attributes <= ATTRIBUTES
    assert page.comments == []
    shown = "".join(page.text)
    # each field shows the value whole as text, as the terminal view prints it (a bidi
    # control written out): names, occurrences, details, hosts, ...
    written = printable(text)
    assert shown.count(written) >= 12
    assert f"c.yaml:1:1: {written}" in shown
    assert not any(ord(c) in BIDI_CONTROLS for c in html)
    # ... and as attribute values (data-* for the browser test), never as attributes
    assert written in page.values
    # no value's markup became markup: the only script-ish attribute names are none
    assert not any(a.startswith("on") for a in page.attributes)
    assert html.count("<script") == 1  # the page's own reload, its hash in the CSP
    assert f"<script>{RELOAD_SCRIPT}</script>" in html
    assert "<img" not in html


def test_numbers_in_free_text_are_masked() -> None:
    """Hold details, limits, suppression sources, hosts, commands and the reload error are
    free text: a number in them is masked (names are the config's identifiers, as is)."""
    number = "+447400123456"
    view = _view("plain")
    schedule = view.schedules[0].model_copy(
        update={"held": [Hold(reason="secret", detail=f"SKY_KEY for {number}", since=None)]}
    )
    replica = view.replicas[0].model_copy(update={"command": f"smsops send --to {number}"})
    needs = view.needs_person.model_copy(
        update={
            "over_limits": [OverLimits(schedule="plain", limits=[f"max_cost {number}"])],
            "suppressions": [Suppression(number="+44 74** ***456", at=NOW, source=number)],
        }
    )
    view = view.model_copy(
        update={"schedules": [schedule], "replicas": [replica], "needs_person": needs}
    )
    html = render_page(view, Daemon(2, NOW, f"c.yaml:3:1: {number}"), _providers("p"))
    assert number not in html
    assert "+44 74** ***456" in html


def test_the_login_form_never_echoes_what_was_sent() -> None:
    page = parsed(render_login(refused=True))
    assert page.tags <= TAGS
    assert "not accepted" in "".join(page.text)
