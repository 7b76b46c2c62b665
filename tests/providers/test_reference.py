"""`docs/providers.md` is generated from the provider modules and current.

A provider added to `PROVIDER_MODULES` gets its section without touching the
generator; its module docstring must describe its wire format, naming the
headers that carry its secrets.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from smsops.providers import aoc, registry
from smsops.providers.emulation import Emulator
from smsops.providers.reference import COMMAND, reference_markdown

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "providers.md"


def test_committed_reference_equals_generated() -> None:
    assert REFERENCE.read_text() == reference_markdown(), f"docs/providers.md is stale: {COMMAND}"


def test_the_module_run_prints_the_reference() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "smsops.providers.reference"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    assert printed == reference_markdown()


def section(text: str, name: str) -> str:
    return text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize("name", registry.PROVIDER_MODULES)
def test_each_provider_has_its_section_from_its_module(name: str) -> None:
    text = reference_markdown()
    part = section(text, name)
    adapter = registry.adapters()[name]
    emulator = registry.emulators()[name]
    assert f"| [{name}](#{name}) |" in text
    assert f"(config.md#type-{name})" in part
    assert f"`base_url: http://127.0.0.1:8765{emulator.base_path}`" in part
    for path, _ in emulator.routes:
        assert f"`POST {emulator.base_path}{path}`" in part
    for header in adapter.secret_headers:
        assert f"`{header}`" in part


@pytest.mark.parametrize("name", registry.PROVIDER_MODULES)
def test_each_module_docstring_describes_its_wire_format(name: str) -> None:
    """A one-line summary and at least a paragraph of wire format, naming each secret header."""
    doc = sys.modules[registry.adapters()[name].__module__].__doc__ or ""
    summary, _, body = doc.partition("\n\n")
    assert summary.strip(), f"{name}: a one-line summary first"
    assert len(body.split()) >= 20, f"{name}: describe the wire format after the summary"
    for header in registry.adapters()[name].secret_headers:
        assert header in doc.lower(), f"{name}: the docstring does not name {header}"


def test_a_new_provider_appears_without_touching_the_generator() -> None:
    module = ModuleType("smsops.providers.example")
    module.__doc__ = "Example: `x-key`; POST /send.\n\nThe body carries `to` and `text`."
    module.ADAPTER = aoc.ADAPTER
    module.EMULATOR = Emulator("/example", (("/send", aoc.EMULATOR.routes[0][1]),))
    text = reference_markdown({"aoc": aoc, "example": module})
    part = section(text, "example")
    assert part.startswith("\nExample: `x-key`; POST /send.\n\nThe body carries `to` and `text`.")
    assert "`POST /example/send`" in part
    assert "| [example](#example) | Example: `x-key`; POST /send. |" in text
