"""The scrubber: every spelling an echo of a request could use is removed."""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import quote, quote_plus

import pytest

from smsops.core import envref, secrets
from smsops.core.errors import SecretMissing

SECRET = 'k3y/with+odd=chars&"q"é'


@pytest.mark.parametrize(
    "echo",
    [
        pytest.param(f"x-api-key: {SECRET}", id="header"),
        pytest.param(f"X-API-KEY: {SECRET.upper()}", id="upper-case"),
        pytest.param(f"GET /sms?key={quote(SECRET, safe='')}", id="percent"),
        pytest.param(f"GET /sms?key={quote(SECRET, safe='').lower()}", id="percent-lower-hex"),
        pytest.param(f"key={quote_plus(SECRET)}", id="form"),
        pytest.param(json.dumps({"apiKey": SECRET}), id="json"),
        pytest.param(json.dumps({"apiKey": SECRET}, ensure_ascii=False), id="json-utf8"),
        pytest.param(json.dumps({"body": json.dumps({"apiKey": SECRET})}), id="json-in-json"),
        pytest.param(str({"apiKey": SECRET}), id="python-repr"),
        pytest.param(str({"apiKey": SECRET.encode()}), id="python-bytes-repr"),
        pytest.param(
            json.dumps({"k": SECRET}).replace("&", "\\u0026").replace("/", "\\/"),
            id="json-go-style",
        ),
        pytest.param(f"?k={quote(SECRET, safe='/+&=')}", id="percent-partial"),
        pytest.param(f"?next={quote(quote(SECRET, safe=''), safe='')}", id="percent-twice"),
        pytest.param(f"<pre>{html.escape(SECRET)}</pre>", id="html"),
        *(
            pytest.param(
                base64.b64encode(prefix + f"apiKey: {SECRET}\r\n".encode()).decode(), id=f"b64-{n}"
            )
            for n, prefix in enumerate((b"", b"a", b"ab"))
        ),
        pytest.param(
            base64.urlsafe_b64encode(f"apiKey={SECRET}".encode()).decode(), id="b64-urlsafe"
        ),
    ],
)
def test_every_spelling_of_a_registered_secret_is_scrubbed(echo: str) -> None:
    assert not secrets.holds_secret(echo)  # nothing registered yet: nothing to find
    secrets.register(SECRET)
    scrubbed = secrets.scrub(echo)
    assert secrets.holds_secret(echo)
    assert not secrets.holds_secret(scrubbed)
    assert SECRET.lower() not in scrubbed.lower()
    assert "y/with+odd" not in scrubbed  # no readable middle left either


def test_text_without_secrets_is_unchanged_and_short_values_are_not_secrets() -> None:
    secrets.register("abc")  # too short to be a secret: would garble every line
    secrets.register("sk-live-0123")
    line = "2026-11-28 06:00:00 sent 3, failed 0 abc"
    assert secrets.scrub(line) == line
    assert secrets.scrub("token sk-live-0123 and SK-LIVE-0123.") == "token *** and ***."


def test_resolving_a_reference_registers_its_value_and_a_missing_one_names_only_the_name() -> None:
    env = {"KEY": "resolved-value-9f2"}
    assert envref.resolve("Bearer ${env:KEY}", env, "p") == "Bearer resolved-value-9f2"
    assert secrets.scrub("echo: resolved-value-9f2") == "echo: ***"
    with pytest.raises(SecretMissing) as raised:
        envref.resolve("${env:OTHER}", env, "p")
    assert "OTHER" in str(raised.value)


def test_surrounding_whitespace_of_a_value_does_not_hide_it() -> None:
    secrets.register("from-a-file-secret\n")  # a secret mounted from a file keeps its newline
    assert secrets.scrub("key=from-a-file-secret&x=1") == "key=***&x=1"
