"""Every registered provider is complete: one test suite, run over the registry.

For each type in `PROVIDER_MODULES`: its request builds and redacts (no
secret, no full number), goes over a real loopback socket to its own sandbox
emulator, and its answer parses into the right result — also for the
rejection (4xx) and throttling (429/503 with Retry-After) shapes and for the
sandbox's faults (an echoing proxy, a dropped connection).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from typing import ClassVar, Literal

import httpx
import pytest

from smsops.config.providers import LABELS, Capabilities, ProviderBase
from smsops.config.types import SecretRef, Text
from smsops.core import secrets
from smsops.core.phone import mask
from smsops.providers.base import (
    Accepted,
    Adapter,
    Message,
    Rejected,
    Result,
    Retryable,
    Uncertain,
    transport_error,
)
from smsops.providers.redaction import redacted
from smsops.providers.registry import PROVIDER_MODULES, emulators, provider_models
from smsops.sandbox.server import Sandbox
from tests.providers.conftest import CONFIGS, SECRETS, make_adapter

UK = Message("+447400123456", "Hi Sam, order A-1 has shipped.", region="GB")
SPELLINGS = (UK.recipient, UK.recipient.removeprefix("+"), UK.recipient.replace("+", "%2B"))
# The first sample config of each provider type (tests/providers/conftest.py).
SAMPLE = {config["type"]: name for name, config in reversed(CONFIGS.items())}


def test_every_registered_provider_has_a_sample_config_and_an_emulator() -> None:
    assert set(SAMPLE) == set(PROVIDER_MODULES)
    assert list(emulators()) == list(PROVIDER_MODULES)
    paths = [emulator.base_path for emulator in emulators().values()]
    assert len(set(paths)) == len(paths), "two providers share a sandbox base path"


@pytest.fixture(params=PROVIDER_MODULES)
def provider_type(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def adapter(provider_type: str, sandbox: Sandbox | None = None) -> Adapter:
    base_url = sandbox.base_url(provider_type) if sandbox is not None else None
    return make_adapter(SAMPLE[provider_type], base_url=base_url)


def secret_forms() -> list[str]:
    """Each secret as is and base64'd (an Authorization header carries it so)."""
    forms = list(SECRETS.values())
    forms += [base64.b64encode(value.encode()).decode() for value in SECRETS.values()]
    return forms


def exchange(
    client: httpx.Client, built: Adapter, request: httpx.Request, messages: list[Message]
) -> list[Result]:
    try:
        response = client.send(request)
    except httpx.TransportError as error:
        return [transport_error(error)] * len(messages)
    return built.parse(response, messages)


def test_build_then_redact_shows_no_secret_and_no_full_number(provider_type: str) -> None:
    built = adapter(provider_type)
    request = built.build([UK])
    shown = json.dumps(redacted(request, built, [UK.recipient]))
    for secret in secret_forms():
        assert secret not in shown
    assert not secrets.holds_secret(shown)
    for spelling in SPELLINGS:
        assert spelling not in shown
    assert mask(UK.recipient) in shown
    assert "***" in shown  # the secret header is there, hidden


def test_round_trip_through_its_emulator_is_accepted_and_recorded(
    provider_type: str, sandbox: Sandbox, client: httpx.Client
) -> None:
    built = adapter(provider_type, sandbox)
    (result,) = exchange(client, built, built.build([UK]), [UK])
    assert isinstance(result, Accepted), result
    (seen,) = sandbox.state.snapshot()
    assert (seen["provider"], seen["recipient"], seen["text"]) == (
        provider_type,
        UK.recipient,
        UK.text,
    )
    if result.message_id is not None:
        assert seen["message_id"] == result.message_id


def test_a_request_without_its_credentials_is_rejected_in_the_providers_shape(
    provider_type: str, sandbox: Sandbox, client: httpx.Client
) -> None:
    built = adapter(provider_type, sandbox)
    request = built.build([UK])
    for name in built.secret_headers:
        del request.headers[name]
    (result,) = exchange(client, built, request, [UK])
    assert isinstance(result, Rejected), result
    assert sandbox.state.snapshot() == []


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_is_retryable_after_the_time_the_server_names(
    provider_type: str, sandbox: Sandbox, client: httpx.Client, status: int
) -> None:
    sandbox.state.faults.update({"status_every": 1, "status": status, "retry_after": 2})
    built = adapter(provider_type, sandbox)
    (result,) = exchange(client, built, built.build([UK]), [UK])
    assert result == Retryable(f"HTTP {status} from the provider", retry_after=2.0)
    assert isinstance(result, Retryable)
    assert result.throttled  # a rate-limit wait on the status page, not a lost connection


def test_the_sandbox_rate_limit_answers_429_with_retry_after(
    provider_type: str, sandbox: Sandbox, client: httpx.Client
) -> None:
    sandbox.state.faults.update({"rate_limit": 1})
    built = adapter(provider_type, sandbox)
    first, second = (exchange(client, built, built.build([UK]), [UK])[0] for _ in range(2))
    assert isinstance(first, Accepted), first
    assert second == Retryable("HTTP 429 from the provider", retry_after=1.0)


@pytest.mark.parametrize("status", [400, 500])
def test_an_echoing_proxy_leaves_no_secret_in_the_result(
    provider_type: str, sandbox: Sandbox, client: httpx.Client, status: int
) -> None:
    sandbox.state.faults.update({"echo_every": 1, "echo_status": status})
    built = adapter(provider_type, sandbox)
    (result,) = exchange(client, built, built.build([UK]), [UK])
    assert not isinstance(result, Accepted)
    text = repr(result)
    for secret in secret_forms():
        assert secret not in text
    assert not secrets.holds_secret(text)


def test_a_dropped_connection_after_acceptance_is_uncertain(
    provider_type: str, sandbox: Sandbox, client: httpx.Client
) -> None:
    sandbox.state.faults.update({"drop_every": 1})
    built = adapter(provider_type, sandbox)
    (result,) = exchange(client, built, built.build([UK]), [UK])
    assert isinstance(result, Uncertain), result
    assert [m["recipient"] for m in sandbox.state.snapshot()] == [UK.recipient]


def test_every_capability_has_a_label_for_validation_errors(provider_type: str) -> None:
    model = provider_models()[provider_type]
    everything = Capabilities(**{feature.name: True for feature in fields(Capabilities)})
    assert set(LABELS) == {feature.name for feature in fields(Capabilities)}
    lacking = model.capabilities.lacking(everything)
    assert len(lacking) == sum(not getattr(model.capabilities, f) for f in LABELS)


# --- secret body fields (issue 19, 9) ----------------------------------------
class Vonage(ProviderBase):
    """A Vonage-style provider as the documented recipe would add it: credentials in the body."""

    type: Literal["vonage"]
    base_url: Text = "https://rest.nexmo.example.invalid"
    api_key: SecretRef
    api_secret: SecretRef


@dataclass(frozen=True)
class VonageAdapter(Adapter):
    config: Vonage
    secret_fields: ClassVar[frozenset[str]] = frozenset({"api_key", "api_secret"})

    def build(self, messages: Sequence[Message]) -> httpx.Request:
        (message,) = messages
        body = {
            "api_key": self.secret(self.config.api_key),
            "api_secret": self.secret(self.config.api_secret),
            "to": message.recipient.removeprefix("+"),
            "from": "ACME",
            "text": message.text,
        }
        return self.post("/sms/json", {}, body)


@dataclass(frozen=True)
class VonageFormAdapter(VonageAdapter):
    body_encoding: ClassVar[Literal["json", "form"]] = "form"


@dataclass(frozen=True)
class VonageQueryAdapter(VonageAdapter):
    """The credentials as URL query parameters, as Vonage's GET form takes them."""

    def build(self, messages: Sequence[Message]) -> httpx.Request:
        key, secret = self.secret(self.config.api_key), self.secret(self.config.api_secret)
        body = {"to": messages[0].recipient.removeprefix("+"), "text": messages[0].text}
        return self.post(f"/sms/json?api_key={key}&api_secret={secret}&from=ACME", {}, body)


def body_fields(data: object, path: str = "") -> Iterator[tuple[str, str]]:
    """(field name, value) of every leaf of a decoded JSON or form body."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, dict | list):
                yield from body_fields(value, key)
            else:
                yield str(key), str(value)
    elif isinstance(data, list):
        for item in data:
            yield from body_fields(item, path)


def assert_secrets_named_and_hidden(built: Adapter, request: httpx.Request) -> None:
    """Every header and body field carrying a secret is named by the contract and hidden."""
    for name, value in request.headers.items():
        if any(secret in value for secret in secret_forms()) or name == "authorization":
            assert name in built.secret_headers, f"header {name!r} carries a secret"
    raw = redacted(request, Adapter(name="raw", config=built.config), [])  # nothing declared
    for name, value in body_fields({k: raw[k] for k in ("json", "form") if k in raw}):
        if any(secret in value for secret in secret_forms()):
            assert name in built.secret_fields, f"body field {name!r} carries a secret"
    shown = json.dumps(redacted(request, built, [UK.recipient]))
    for secret in secret_forms():
        assert secret not in shown
    assert not secrets.holds_secret(shown)


def test_every_secret_header_and_body_field_is_named_by_its_provider(provider_type: str) -> None:
    built = adapter(provider_type)
    assert_secrets_named_and_hidden(built, built.build([UK]))


@pytest.mark.parametrize("adapter_type", [VonageAdapter, VonageFormAdapter])
def test_secret_body_fields_are_redacted(adapter_type: type[VonageAdapter]) -> None:
    config = Vonage.model_validate(
        {"type": "vonage", "api_key": "${env:TW_SID}", "api_secret": "${env:TW_TOKEN}"}
    )
    built = adapter_type(name="vonage", config=config, env=SECRETS)
    request = built.build([UK])
    assert SECRETS["TW_TOKEN"].encode() in request.content  # it is in the body...
    assert_secrets_named_and_hidden(built, request)  # ...and shown as ***
    shown = redacted(request, built, [UK.recipient])
    body = shown.get("json") or shown.get("form")
    assert (body["api_key"], body["api_secret"], body["from"]) == ("***", "***", "ACME")


def test_secret_query_parameters_are_redacted() -> None:
    config = Vonage.model_validate(
        {"type": "vonage", "api_key": "${env:TW_SID}", "api_secret": "${env:TW_TOKEN}"}
    )
    built = VonageQueryAdapter(name="vonage", config=config, env=SECRETS)
    shown = redacted(built.build([UK]), built, [UK.recipient])
    assert shown["url"].endswith("/sms/json?api_key=***&api_secret=***&from=ACME")
