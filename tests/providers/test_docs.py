"""The README's provider documentation is checked against the registry.

A provider added to `PROVIDER_MODULES` without its README rows, or a field
added to a model without its mention, fails here with what to add.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smsops.config.providers import ProviderBase
from smsops.providers.registry import PROVIDER_MODULES, emulators, provider_models

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


def section(heading: str) -> str:
    """The text under `heading` up to the next heading of the same or a higher level."""
    level = heading.split(" ")[0]
    start = README.index(f"\n{heading}\n")
    ends = [m.start() for m in re.finditer(rf"\n#{{1,{len(level)}}} ", README[start + 1 :])]
    return README[start : start + 1 + min(ends, default=len(README))]


def row(table: str, provider_type: str) -> str:
    found = [line for line in table.splitlines() if line.startswith(f"| `{provider_type}` |")]
    assert found, f"README: add a row for `{provider_type}` to the table"
    return found[0]


@pytest.mark.parametrize("provider_type", PROVIDER_MODULES)
def test_provider_fields_table_names_every_field_of_the_model(provider_type: str) -> None:
    line = row(section("### Provider fields"), provider_type)
    model = provider_models()[provider_type]
    own = set(model.model_fields) - set(ProviderBase.model_fields) | {"base_url"}
    for name in own:
        spelled = model.model_fields[name].alias or name
        assert f"`{spelled}`" in line, f"README provider fields: `{provider_type}` lacks {spelled}"


def test_provider_fields_table_has_no_unknown_type() -> None:
    types = re.findall(r"^\| `(\w+)` \|", section("### Provider fields"), re.M)
    assert types == list(PROVIDER_MODULES)


def test_providers_section_describes_each_provider_in_registry_order() -> None:
    described = re.findall(r"^- \*\*(\w+)\*\* —", section("## Providers"), re.M)
    assert described == list(PROVIDER_MODULES)


@pytest.mark.parametrize("provider_type", PROVIDER_MODULES)
def test_sandbox_table_gives_each_providers_base_url(provider_type: str) -> None:
    emulator = emulators()[provider_type]
    rows = [line for line in section("## The sandbox").splitlines() if line.startswith("| `POST ")]
    wanted = f"(base_url `…{emulator.base_path}`)"
    matching = [line for line in rows if line.endswith(f"{wanted} |")]
    assert matching, f"README sandbox table: add a row ending {wanted}"
    for path, _ in emulator.routes:
        literal = path.split("{")[0].rstrip("/")
        assert f"{emulator.base_path}{literal}" in matching[0]
