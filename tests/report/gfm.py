"""The PR comment as GitHub would show it: a GFM renderer and what its HTML holds.

markdown-it-py's "gfm-like" preset is CommonMark with GFM tables,
strikethrough, bare-URL autolinks (linkify) and raw HTML passed through, as
GitHub's renderer does before it sanitises. The rendered HTML is read back
with the standard library's parser (entities decoded), so a test sees the
text a reader sees and every element the markdown produced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from markdown_it import MarkdownIt

_GFM = MarkdownIt("gfm-like")
# What GitHub turns into a notification when it is in a text node outside code.
MENTION = re.compile(r"(?<![\w`])@[A-Za-z0-9][A-Za-z0-9-]*")
# Elements the comment is made of; anything else came from data.
OURS = frozenset(
    {"h2", "h3", "p", "strong", "em", "code", "pre", "ul", "li", "details", "summary"}
    | {"table", "thead", "tbody", "tr", "th", "td"}
)


@dataclass
class Rendered:
    """What the HTML of a rendered comment holds, in document order."""

    html: str
    tags: list[str] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)  # text of each <pre><code>
    spans: list[str] = field(default_factory=list)  # text of each inline <code>
    emphasis: list[str] = field(default_factory=list)  # text of each <em>
    outside_code: list[str] = field(default_factory=list)  # text nodes not inside code
    comments: list[str] = field(default_factory=list)

    def assert_inert(self, *, notes: re.Pattern[str]) -> None:
        """No element from data, no mention outside code, every <em> one of our notes."""
        foreign = [t for t in self.tags if t not in OURS]
        assert not foreign, f"elements from data: {foreign}\n{self.html}"
        for text in self.outside_code:
            assert not MENTION.search(text), f"a mention outside code: {text!r}\n{self.html}"
        for text in self.emphasis:
            assert notes.fullmatch(text), f"emphasis from data: {text!r}\n{self.html}"


class _Reader(HTMLParser):
    def __init__(self, out: Rendered) -> None:
        super().__init__(convert_charrefs=True)
        self.out = out
        self.open: list[str] = []
        self.buffer: list[str] | None = None
        self.em: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.tags.append(tag)
        if tag in {"img", "br", "hr", "input"}:
            return  # void elements never close
        self.open.append(tag)
        if tag == "code":
            self.buffer = []
        if tag == "em":
            self.em = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "code" and self.buffer is not None:
            text = "".join(self.buffer)
            (self.out.blocks if "pre" in self.open else self.out.spans).append(text)
            self.buffer = None
        if tag == "em" and self.em is not None:
            self.out.emphasis.append("".join(self.em))
            self.em = None
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        if self.buffer is not None:
            self.buffer.append(data)
        else:
            self.out.outside_code.append(data)
        if self.em is not None:
            self.em.append(data)

    def handle_comment(self, data: str) -> None:
        self.out.comments.append(data)


def render(markdown: str) -> Rendered:
    """Render `markdown` as GFM and read back what the HTML holds."""
    html = _GFM.render(markdown)
    out = Rendered(html)
    reader = _Reader(out)
    reader.feed(html)
    reader.close()
    return out
