"""Links in the README, CONTRIBUTING.md and every page under docs/ lead somewhere.

Each relative link must name a file that exists and, when it has one, a
heading that exists there.

docs/architecture.md points at modules; a module moved or renamed without
updating it fails here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
# Modules issue 13 creates in another part of the same change; drop each entry
# once its module is merged (the test below then checks it like any other).
BEING_CREATED: set[str] = set()  # links to modules still being written


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    headings = re.findall(r"^#+ (.+)$", path.read_text(), flags=re.MULTILINE)
    return {_slug(heading) for heading in headings}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"^[a-z]+:", target):
            continue  # an absolute URL: not checked (no network in tests)
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if path.relative_to(ROOT).as_posix() in BEING_CREATED:
            continue
        missing_anchor = bool(anchor) and path.suffix == ".md" and anchor not in _anchors(path)
        if not path.exists() or missing_anchor:
            broken.append(target)
    assert broken == [], f"{doc.relative_to(ROOT)}: links to nothing: {broken}"


def test_every_page_is_linked_from_the_readme_or_a_page_it_links() -> None:
    """No page of docs/ is an orphan a reader cannot reach from the README."""
    reached, todo = set(), [ROOT / "README.md"]
    while todo:
        page = todo.pop()
        if page in reached or not page.exists() or page.suffix != ".md":
            continue
        reached.add(page)
        for target in LINK.findall(page.read_text()):
            file = target.partition("#")[0]
            if file and not re.match(r"^[a-z]+:", target):
                todo.append((page.parent / file).resolve())
    assert [d.relative_to(ROOT).as_posix() for d in DOCS if d not in reached] == []


def test_architecture_links_every_layer_of_the_contract() -> None:
    with (ROOT / "pyproject.toml").open("rb") as file:
        contracts = tomllib.load(file)["tool"]["importlinter"]["contracts"]
    names = [layer for c in contracts if c["type"] == "layers" for layer in c["layers"]]
    layers = set(re.findall(r"smsops\.(\w+)", " ".join(names)))
    text = (ROOT / "docs" / "architecture.md").read_text()
    assert layers
    for layer in layers:
        assert f"(../smsops/{layer}/)" in text, layer


def test_slug() -> None:
    assert _slug("ProviderTemplate") == "providertemplate"
    assert _slug("How a plan becomes sends") == "how-a-plan-becomes-sends"
    assert _slug("type: aoc") == "type-aoc"


def test_no_citation_of_a_design_document_users_never_see() -> None:
    """The design contract lives outside the repository: cite the repository's own docs."""
    cited = re.compile(r"DESIGN(\.md)?\s*§")
    places = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "pyproject.toml"]
    for folder in ("smsops", "tests", "bench", "scripts", "docs", "examples"):
        places += [
            p
            for p in (ROOT / folder).rglob("*")
            if p.suffix in {".py", ".md", ".sh", ".yml", ".yaml", ".toml"}
        ]
    found = [p.relative_to(ROOT).as_posix() for p in places if cited.search(p.read_text())]
    assert found == []
