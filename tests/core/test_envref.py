from __future__ import annotations

import pytest

from smsops.core import secrets
from smsops.core.envref import referenced_names, resolve, resolve_url
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


def test_referenced_names() -> None:
    assert referenced_names("a ${env:A_1} b ${env:B}") == ["A_1", "B"]


def test_a_base_url_from_the_environment_has_its_parts_scrubbed() -> None:
    """An error quotes a part of a URL (its host, a query value), not the whole value."""
    secrets.forget_all()
    try:
        url = "https://user:pw-part-71c@host-part-3d.example:8443/path-part-5e?k=key-part-9a&x=1"
        assert resolve_url("${env:URL}", {"URL": url}, "sky") == url
        for part in ("pw-part-71c", "host-part-3d.example:8443", "/path-part-5e", "key-part-9a"):
            assert secrets.scrub(f"echo: {part}!") == "echo: ***!"
        assert resolve_url("https://plain.example/v2", {}, "sky") == "https://plain.example/v2"
        assert secrets.scrub("plain.example") == "plain.example"
    finally:
        secrets.forget_all()
