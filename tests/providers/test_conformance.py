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
from collections.abc import Iterator
from dataclasses import fields

import httpx
import pytest

from smsops.config.providers import LABELS, Capabilities
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
    for name, value in request.headers.items():
        if any(secret in value for secret in secret_forms()) or name == "authorization":
            assert name in built.secret_headers, f"header {name!r} carries a secret"
    shown = json.dumps(redacted(request, built.secret_headers, [UK.recipient]))
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
