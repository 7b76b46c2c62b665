"""docs/providers.md's answer table (`ANSWER_RULE`) is what `Adapter.parse` does.

`ANSWER_RULE` is prose beside `Adapter._parse`, printed into the generated
provider reference. Each of its rows gets answers of its kind here, run on
every registered provider, and the outcome the row names must be the one
`parse` (or `transport_error`, for the rows without an answer) returns: a
row changed, added or reordered without its examples fails this test.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
import pytest

from smsops.providers.base import (
    ANSWER_RULE,
    Accepted,
    Rejected,
    Result,
    Retryable,
    Uncertain,
    transport_error,
)
from smsops.providers.registry import PROVIDER_MODULES
from smsops.sandbox.server import Sandbox
from tests.providers.test_conformance import UK, adapter, exchange
from tests.providers.test_conformance_answers import NOT_SUCCESS_2XX, TWO, answer, documented

KINDS: dict[str, type] = {
    "accepted": Accepted,
    "rejected": Rejected,
    "retryable": Retryable,
    "uncertain": Uncertain,
}
Examples = Callable[[str, Sandbox, httpx.Client], list[Result]]


def success(provider_type: str, sandbox: Sandbox, client: httpx.Client) -> list[Result]:
    built = adapter(provider_type, sandbox)
    return exchange(client, built, built.build([UK]), [UK])


def rejections(provider_type: str, _sandbox: Sandbox, _client: httpx.Client) -> list[Result]:
    built = adapter(provider_type)
    results = [
        result
        for rejection in documented(provider_type)
        for status in rejection.statuses
        for result in built.parse(answer(status, dict(rejection.body)), [UK])
    ]
    for status in (400, 401, 404, 422):  # any 4xx but 429, whatever its body
        results += built.parse(answer(status, b"<html>no</html>"), [UK])
    return results


def throttled(provider_type: str, _sandbox: Sandbox, _client: httpx.Client) -> list[Result]:
    built = adapter(provider_type)
    return [r for status in (429, 503) for r in built.parse(answer(status, {}), [UK])]


def bulk_unavailable(provider_type: str, _sandbox: Sandbox, _client: httpx.Client) -> list[Result]:
    built = adapter(provider_type)
    if not built.partly_processed(TWO):
        return []  # one message per request: the row cannot happen to this provider
    return list(built.parse(answer(503, {}), TWO))


def server_errors(provider_type: str, _sandbox: Sandbox, _client: httpx.Client) -> list[Result]:
    built = adapter(provider_type)
    bodies = [dict(r.body) for r in documented(provider_type)] + [b"Bad Gateway"]
    return [
        result
        for status in (500, 502, 504)
        for body in bodies
        for result in built.parse(answer(status, body), [UK])
    ]


def unreadable_2xx(provider_type: str, _sandbox: Sandbox, _client: httpx.Client) -> list[Result]:
    built = adapter(provider_type)
    bodies = [*NOT_SUCCESS_2XX, b"", b"not json"]
    return [r for body in bodies for r in built.parse(answer(200, body), [UK])]


def informational_or_redirect(
    provider_type: str, _sandbox: Sandbox, _client: httpx.Client
) -> list[Result]:
    built = adapter(provider_type)
    moved = {"location": "http://127.0.0.1:9/elsewhere"}
    return [
        r for status in (101, 301, 302, 307) for r in built.parse(answer(status, b"", moved), [UK])
    ]


def refused_connection(provider_type: str, _sandbox: Sandbox, client: httpx.Client) -> list[Result]:
    with socket.socket() as held:  # a port nobody listens on: bound, never listening
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        built = adapter(provider_type)
        request = built.build([UK])
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)
        return exchange(client, built, request, [UK])


def lost_answer(_provider_type: str, _sandbox: Sandbox, _client: httpx.Client) -> list[Result]:
    request = httpx.Request("POST", "http://127.0.0.1/")
    errors: list[httpx.TransportError] = [
        httpx.ReadTimeout("timed out", request=request),
        httpx.WriteTimeout("timed out", request=request),
        httpx.RemoteProtocolError("peer closed connection", request=request),
        httpx.ReadError("connection reset", request=request),
    ]
    return [transport_error(error) for error in errors]


EXAMPLES: list[Examples] = [
    success,
    rejections,
    throttled,
    bulk_unavailable,
    server_errors,
    unreadable_2xx,
    informational_or_redirect,
    refused_connection,
    lost_answer,
]


@pytest.fixture(params=PROVIDER_MODULES)
def provider_type(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client() -> httpx.Client:
    return httpx.Client(timeout=5)


def test_every_row_of_the_answer_rule_has_its_examples() -> None:
    assert len(EXAMPLES) == len(ANSWER_RULE), "a row of ANSWER_RULE was added or removed"
    for when, outcome, *_ in ANSWER_RULE:
        assert outcome.split(":")[0].split()[0] in KINDS, (when, outcome)


@pytest.mark.parametrize(
    ("row", "examples"), list(enumerate(EXAMPLES)), ids=[e.__name__ for e in EXAMPLES]
)
def test_each_row_names_what_parse_returns(
    row: int, examples: Examples, provider_type: str, sandbox: Sandbox, client: httpx.Client
) -> None:
    when, outcome, *_ = ANSWER_RULE[row]
    wanted = KINDS[outcome.split(":")[0].split()[0]]
    with client:
        results = examples(provider_type, sandbox, client)
    if examples is not bulk_unavailable:
        assert results, f"no example answers for {when!r}"
    for result in results:
        assert isinstance(result, wanted), (provider_type, when, result)


def test_some_provider_can_be_partly_processed() -> None:
    """The bulk row is exercised by at least one registered provider."""
    assert any(adapter(p).partly_processed(TWO) for p in PROVIDER_MODULES)
