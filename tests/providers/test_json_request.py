"""`json_request` builds the request httpx builds for `json=`, once instead of twice.

Checked against httpx's own `httpx.Request("POST", url, headers=..., json=...)`
on generated bodies, headers and URLs: the same method, URL, header bytes (in
order) and body bytes. A new httpx that encodes JSON or orders its headers
otherwise fails here, not on a provider's wire.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsops.providers.base import json_request

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_VALUES_IN_BODY = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_BODIES = st.dictionaries(st.text(), _VALUES_IN_BODY, max_size=5)  # a provider's body: an object
_NAME_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=":")
_NAMES = st.sampled_from(
    ["Host", "host", "Content-Type", "content-length", "X-Auth-Token", "Authorization"]
) | st.text(_NAME_CHARS, min_size=1, max_size=12)
_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)
_URLS = st.sampled_from(
    [
        "http://127.0.0.1:8080/opentact/rest/sms",
        "https://api.example.com/v1/messages",
        "https://api.example.com:443/v1/messages",
        "http://api.example.com:80/x?a=1&b=%20",
        "http://[::1]:9000/send",
        "https://BÜCHER.example/sms",
        "http://localhost",
    ]
)


def _same(url: str, headers: dict[str, str], body: dict[str, Any]) -> None:
    parsed = httpx.URL(url)
    theirs = httpx.Request("POST", parsed, headers=headers, json=body)
    ours = json_request(parsed, headers, body)
    assert ours.method == theirs.method
    assert ours.url == theirs.url
    assert ours.headers.raw == theirs.headers.raw
    assert ours.content == theirs.content


@settings(max_examples=300, deadline=None)
@given(url=_URLS, headers=st.dictionaries(_NAMES, _VALUES, max_size=4), body=_BODIES)
def test_the_same_request_as_httpx_builds(
    url: str, headers: dict[str, str], body: dict[str, Any]
) -> None:
    _same(url, headers, body)


def test_a_provider_body_with_every_kind_of_text() -> None:
    body = {"from": 12017771234, "to": 15551234567, "message": 'Hi Zoë, ✓ "1" \\ \u2028 😀'}
    _same("http://127.0.0.1:8080/rest/sms", {"X-Auth-Token": "jwt"}, body)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_body_json_cannot_hold_is_refused_as_httpx_refuses_it(bad: float) -> None:
    url = httpx.URL("http://127.0.0.1/x")
    with pytest.raises(ValueError, match="JSON compliant"):
        httpx.Request("POST", url, json={"n": bad})
    with pytest.raises(ValueError, match="JSON compliant"):
        json_request(url, {}, {"n": bad})
