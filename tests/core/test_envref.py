from __future__ import annotations

import pytest

from smsops.core.envref import check_references, referenced_names, resolve
from smsops.core.errors import SecretMissing


def test_resolves_whole_and_embedded_references() -> None:
    env = {"KEY": "s3cret", "HOST": "api.example"}
    assert resolve("${env:KEY}", env, "ses") == "s3cret"
    assert resolve("https://${env:HOST}/v2", env, "sky") == "https://api.example/v2"
    assert resolve("plain", {}, "ses") == "plain"


def test_missing_variable_names_provider_and_variable_but_no_value() -> None:
    with pytest.raises(SecretMissing) as caught:
        resolve("${env:AOC_API_KEY}", {"OTHER": "s3cret"}, "aoc")
    message = str(caught.value)
    assert "provider 'aoc'" in message
    assert "AOC_API_KEY" in message
    assert "s3cret" not in message


@pytest.mark.parametrize("text", ["${ENV:X}", "${env:}", "${env:1X}", "${env:A-B}", "${X}"])
def test_malformed_references_are_reported(text: str) -> None:
    assert check_references(text) is not None


def test_well_formed_references_pass() -> None:
    assert check_references("a ${env:A_1} b ${env:B}") is None
    assert referenced_names("a ${env:A_1} b ${env:B}") == ["A_1", "B"]
