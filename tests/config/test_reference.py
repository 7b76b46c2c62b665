"""`docs/config.md` is generated from the models and current; it documents every field."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from smsops.cli import main
from smsops.config.providers import ProviderBase
from smsops.config.reference import reference_markdown
from smsops.providers.registry import provider_models

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "config.md"


def test_committed_reference_equals_generated() -> None:
    assert REFERENCE.read_text() == reference_markdown(provider_models()), (
        "docs/config.md is out of date: run `smsops schema --markdown > docs/config.md`"
    )


def test_schema_markdown_prints_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--markdown"]) == 0
    assert capsys.readouterr().out == reference_markdown(provider_models())


def test_every_provider_and_its_fields_are_documented() -> None:
    text = reference_markdown(provider_models())
    for name, model in provider_models().items():
        section = text.split(f"### type: {name}\n", 1)[1].split("\n### ", 1)[0]
        for field_name, info in model.model_fields.items():
            if field_name not in ProviderBase.model_fields or field_name == "base_url":
                assert f"| `{info.alias or field_name}` |" in section, (name, field_name)


def test_every_field_row_has_a_description() -> None:
    rows = [
        line
        for line in reference_markdown(provider_models()).splitlines()
        if line.startswith("| `")
    ]
    assert len(rows) > 40
    undescribed = [row for row in rows if row.rstrip().endswith("|  |")]
    assert undescribed == []


def test_template_fields_say_what_they_mean() -> None:
    templates = reference_markdown(provider_models()).split("## templates\n", 1)[1]
    templates = templates.split("\n## ", 1)[0]
    for value in ("`transactional`:", "`marketing`:", "`otp`:"):
        assert value in templates
    assert '| `unicode` | `"auto"` or boolean | `"auto"` |' in templates
    assert "| `flash` | boolean | `false` |" in templates
    assert "[ProviderTemplate](#providertemplate)" in templates
    assert "quiet hours 21:00-08:00" in templates


def test_a_new_provider_appears_without_touching_the_generator() -> None:
    """The registry's models drive the reference: a model it never saw gets its section."""

    class Example(ProviderBase):
        """A provider only this test knows."""

        type: Literal["example"]
        base_url: str = Field(default="https://example.test", description="The API host.")
        account: str = Field(description="The account to send from.")

    text = reference_markdown({**provider_models(), "example": Example})
    section = text.split("### type: example\n", 1)[1].split("\n## ", 1)[0]
    assert "A provider only this test knows." in section
    assert "Supports: plain SMS only." in section
    assert '| `base_url` | string | `"https://example.test"` | The API host. |' in section
    assert "| `account` | string | required | The account to send from. |" in section
