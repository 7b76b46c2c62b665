"""The answer rule, run on every registered provider (the conformance suite's half on answers).

One rule, in the provider contract (`Adapter.parse`): only an answer the
provider documents as a rejection (its `rejections`, each a sample body with
the statuses it comes with) is *rejected* and may fail over; 429 and 503 are
retryable, except a bulk request's 503, which may be partly queued and is
*uncertain*; every other 5xx and every 2xx that cannot be read as success
is *uncertain*. Hostile answers (a deep or huge body, a charset naming a
non-text codec, an absurd Retry-After) never raise.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from smsops.providers.base import (
    RETRY_AFTER_CAP,
    Adapter,
    Documented,
    Message,
    Rejected,
    Result,
    Retryable,
    Uncertain,
    retry_after,
)
from smsops.providers.registry import PROVIDER_MODULES, adapters
from tests.providers.conftest import CONFIGS, make_adapter

UK = Message("+447400123456", "Hi Sam, order A-1 has shipped.", region="GB")
TWO = [UK, Message("+447400123457", UK.text, region="GB")]
SAMPLE = {config["type"]: name for name, config in reversed(CONFIGS.items())}

# 2xx answers no provider documents as success: each must be uncertain, never a failover.
NOT_SUCCESS_2XX: list[Any] = [
    {"success": "true"},  # a string, not the boolean SendWithSES documents
    {"message": "Endpoint request timed out"},
    {"success": 1, "payload": "ok"},
    {"status": "Successful"},
    {"data": 5},
    {"data": [5, None, {"recipient": 4}]},
    {},
    [],
    "OK",
    None,
]
HOSTILE_BODIES: list[tuple[bytes, dict[str, str]]] = [
    (b"[" * 100_000 + b"]" * 100_000, {"content-type": "application/json"}),
    (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, {"content-type": "application/json"}),
    (b'{"busy": true}', {"content-type": "application/json; charset=rot13"}),
    (b'{"busy": true}', {"content-type": "application/json; charset=hex"}),
    (b"<html>busy</html>", {"content-type": "text/html; charset=bz2_codec"}),
    (b'{"busy": true}', {"content-type": "application/json; charset=no-such-codec"}),
    (b"\xff\xfe\x00{", {"content-type": "application/json; charset=utf-8"}),
]


@pytest.fixture(params=PROVIDER_MODULES)
def provider_type(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def adapter(provider_type: str) -> Adapter:
    return make_adapter(SAMPLE[provider_type])


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    if isinstance(body, bytes):
        return httpx.Response(status, content=body, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def documented(provider_type: str) -> list[Documented]:
    declared = list(adapters()[provider_type].rejections)
    assert declared, f"{provider_type}: declare the rejections its docs print (`rejections`)"
    return declared


def kinds(results: list[Result]) -> set[type]:
    return {type(result) for result in results}


def test_every_provider_declares_its_documented_rejections(provider_type: str) -> None:
    for rejection in documented(provider_type):
        assert rejection.statuses, rejection
        assert all(200 <= s < 300 or 400 <= s < 500 for s in rejection.statuses), (
            f"{provider_type}: only a 2xx or 4xx can be a rejection (a 5xx may have been taken)"
        )
        assert rejection.body


def test_a_documented_rejection_is_rejected(provider_type: str) -> None:
    built = adapter(provider_type)
    for rejection in documented(provider_type):
        for status in rejection.statuses:
            (result,) = built.parse(answer(status, dict(rejection.body)), [UK])
            assert isinstance(result, Rejected), (status, rejection.body, result)
            assert result.reason


@pytest.mark.parametrize("status", [500, 502, 504, 501, 520])
def test_a_5xx_is_uncertain_whatever_its_body_says(provider_type: str, status: int) -> None:
    """A 5xx carrying the provider's own failure flag may still have been taken (issue 19)."""
    built = adapter(provider_type)
    bodies: list[Any] = [dict(r.body) for r in documented(provider_type)]
    bodies += [b"<html>Bad Gateway</html>", {"message": "Endpoint request timed out"}]
    for body in bodies:
        (result,) = built.parse(answer(status, body), [UK])
        assert isinstance(result, Uncertain), (status, body, result)
        assert f"HTTP {status}" in result.reason


@pytest.mark.parametrize("status", [200, 201, 202])
def test_a_2xx_that_cannot_be_read_as_success_is_uncertain(provider_type: str, status: int) -> None:
    built = adapter(provider_type)
    for body in NOT_SUCCESS_2XX:
        (result,) = built.parse(answer(status, body), [UK])
        assert isinstance(result, Uncertain), (status, body, result)
        assert result.reason


def test_a_rejection_body_under_a_2xx_it_is_not_documented_with_is_uncertain(
    provider_type: str,
) -> None:
    built = adapter(provider_type)
    declared = {status for rejection in documented(provider_type) for status in rejection.statuses}
    for rejection in documented(provider_type):
        for status in {200, 201, 202} - declared:
            (result,) = built.parse(answer(status, dict(rejection.body)), [UK])
            assert isinstance(result, Uncertain), (status, rejection.body, result)


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_is_retryable_for_one_message(provider_type: str, status: int) -> None:
    built = adapter(provider_type)
    for body in [*(dict(r.body) for r in documented(provider_type)), b"busy"]:
        result = built.parse(answer(status, body, {"Retry-After": "4"}), [UK])
        assert result == [Retryable(f"HTTP {status} from the provider", retry_after=4.0)]


def test_a_bulk_5xx_may_be_partly_queued_so_it_is_uncertain(provider_type: str) -> None:
    built = adapter(provider_type)
    if built.batch_size == 1:
        pytest.skip(f"{provider_type} sends one message per request")
    for status in (500, 502, 503, 504):
        results = built.parse(answer(status, {"error": "busy"}), TWO)
        assert kinds(results) == {Uncertain}, (status, results)
    # 429: the provider's limiter refused the whole request before any of it was queued
    assert kinds(built.parse(answer(429, b""), TWO)) == {Retryable}


@pytest.mark.parametrize("status", [200, 400, 502])
def test_hostile_bodies_never_raise(provider_type: str, status: int) -> None:
    built = adapter(provider_type)
    for body, headers in HOSTILE_BODIES:
        (result,) = built.parse(answer(status, body, headers), [UK])
        expected = Rejected if 400 <= status < 500 else Uncertain
        assert isinstance(result, expected), (status, body[:40], headers, result)


@pytest.mark.parametrize(
    "value", ["inf", "-inf", "nan", "1000000000000", "1e308", "Fri, 31 Dec 9999 23:59:59 GMT"]
)
def test_an_absurd_retry_after_is_capped(provider_type: str, value: str) -> None:
    (result,) = adapter(provider_type).parse(answer(429, b"", {"Retry-After": value}), [UK])
    assert isinstance(result, Retryable)
    wait = result.retry_after
    assert wait is None or (math.isfinite(wait) and 0 <= wait <= RETRY_AFTER_CAP), wait


def test_retry_after_is_finite_and_capped() -> None:
    assert retry_after("inf") == RETRY_AFTER_CAP
    assert retry_after("1000000000000") == RETRY_AFTER_CAP
    assert retry_after("nan") is None
    assert retry_after("-3") == 0.0
    assert retry_after("Fri, 31 Dec 9999 23:59:59 GMT") == RETRY_AFTER_CAP


def test_every_message_of_a_bulk_request_gets_a_result(provider_type: str) -> None:
    built = adapter(provider_type)
    if built.batch_size == 1:
        pytest.skip(f"{provider_type} sends one message per request")
    for status, body in [(200, {"data": 5}), (200, b"[]"), (200, {}), (400, b""), (502, b"")]:
        results = built.parse(answer(status, body), TWO)
        assert len(results) == len(TWO), (status, body, results)
