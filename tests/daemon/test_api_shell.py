"""The API's shell (daemon/api.py) over a real loopback socket, with a route of its own.

What every /v1 route gets before its handler runs: the API on or off, the
bearer token, the bounded JSON body read into the route's model, the error
shape, a handler's exception as that request's 500, and the metrics.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from smsops.daemon.api import MAX_BODY, Answer, ApiRoute, Call
from smsops.daemon.openapi import openapi
from tests.daemon.apiserver import API, BEARER, ENV, PROVIDERS, TOKEN, api_serving

CONFIG = API + PROVIDERS


class Echo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    word: str = Field(max_length=10)
    times: int = 1


class Echoed(BaseModel):
    words: list[str]


class Word(BaseModel):
    word: str = Field(pattern=r"^[a-z]+$")


calls: list[Any] = []


async def echo(call: Call) -> Answer:
    calls.append(call.body)
    if call.body.word == "boom":
        raise RuntimeError("a bug that names +447400123456")
    return Answer(200, Echoed(words=[call.body.word] * call.body.times), "echoed")


async def look(call: Call) -> Answer:
    return Answer(200, Echoed(words=[call.params.word]))


ROUTES = [
    ApiRoute("POST", "/v1/echo", "echo", "Echo", echo, {200: (Echoed, "echoed")}, body=Echo),
    ApiRoute("GET", "/v1/echo/{word}", "look", "Look", look, {200: (Echoed, "")}, params=Word),
]


@pytest.fixture(autouse=True)
def _forget() -> None:
    calls.clear()


def test_an_authenticated_json_body_reaches_the_handler_as_its_model(tmp_path: Path) -> None:
    with api_serving(tmp_path, CONFIG, ENV, routes=ROUTES) as api, api.client(**BEARER) as c:
        answer = c.post("/v1/echo", json={"word": "hi", "times": 2})
        assert (answer.status_code, answer.json()) == (200, {"words": ["hi", "hi"]})
        assert c.get("/v1/echo/abc").json() == {"words": ["abc"]}
        assert api.count("echo", "echoed") == 1
        seconds = api.service.metrics.registry.get_sample_value(
            "smsops_api_seconds_count", {"route": "echo"}
        )
        assert seconds == 1


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "the token is missing: send Authorization: Bearer TOKEN"),
        ({"authorization": "Bearer nope"}, "the token is wrong"),
        (
            {"authorization": f"Basic {TOKEN}"},
            "the token is missing: send Authorization: Bearer TOKEN",
        ),
        ({"authorization": f"Bearer {TOKEN}x"}, "the token is wrong"),
        ({"authorization": ("Bearer " + "é" * 20).encode()}, "the token is wrong"),
    ],
)
def test_a_missing_or_wrong_token_is_401_and_the_body_never_read(
    tmp_path: Path, headers: dict[str, Any], reason: str
) -> None:
    with api_serving(tmp_path, CONFIG, ENV, routes=ROUTES) as api, api.client() as c:
        answer = c.post("/v1/echo", json={"word": "hi"}, headers=headers)
        assert (answer.status_code, answer.json()) == (401, {"error": reason})
        assert answer.headers["connection"] == "close"
        assert calls == []
        assert api.count("echo", "unauthorized") == 1


def test_without_an_api_map_every_route_is_404_and_says_why(tmp_path: Path) -> None:
    with api_serving(tmp_path, PROVIDERS, ENV, routes=ROUTES) as api, api.client(**BEARER) as c:
        for answer in (c.post("/v1/echo", json={"word": "hi"}), c.get("/openapi.json")):
            assert answer.status_code == 404
            assert "the API is off" in answer.json()["error"]
        assert calls == []


def test_an_unset_token_variable_is_503_naming_the_variable_only(tmp_path: Path) -> None:
    env = {"SKY_KEY": "k"}
    with api_serving(tmp_path, CONFIG, env, routes=ROUTES) as api, api.client(**BEARER) as c:
        answer = c.post("/v1/echo", json={"word": "hi"})
        assert answer.status_code == 503
        assert answer.json() == {"error": "the API token is not set: set SMSOPS_API_TOKEN"}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        (b'{"word": "hi"}', "text/plain", 415, "send the body as Content-Type: application/json"),
        (b"{nope", "application/json", 400, "the body is not JSON (UTF-8)"),
        (b'{"word": NaN}', "application/json", 400, "the body is not JSON (UTF-8)"),
        (b'{"word": "\xff"}', "application/json", 400, "the body is not JSON (UTF-8)"),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400, "the JSON nests too deeply"),
        (b'["hi"]', "application/json", 422, "the body must be a JSON object"),
        (b'{"times": 1}', "application/json", 422, "word: Field required"),
        (
            b'{"word": "+447400123456"}',
            "application/json",
            422,
            "word: String should have at most 10 characters",
        ),
        (b'{"word": "a", "x": 1}', "application/json", 422, "x: Extra inputs are not permitted"),
    ],
)
def test_bad_bodies_are_refused_with_a_reason_that_quotes_nothing(
    tmp_path: Path, body: bytes, content_type: str, status: int, reason: str
) -> None:
    headers = {"content-type": content_type}
    with api_serving(tmp_path, CONFIG, ENV, routes=ROUTES) as api, api.client(**BEARER) as c:
        answer = c.post("/v1/echo", content=body, headers=headers)
        assert (answer.status_code, answer.json()) == (status, {"error": reason})
        assert calls == []


def test_many_bad_fields_are_named_five_at_most(tmp_path: Path) -> None:
    class Wide(BaseModel):
        model_config = ConfigDict(extra="forbid")

    async def never(call: Call) -> Answer:
        raise AssertionError("not reached")

    wide = [ApiRoute("POST", "/v1/wide", "wide", "Wide", never, {}, body=Wide)]
    body = {f"f{i}": i for i in range(40)}
    with api_serving(tmp_path, CONFIG, ENV, routes=wide) as api, api.client(**BEARER) as c:
        reason = c.post("/v1/wide", json=body).json()["error"]
        assert reason.count("Extra inputs") == 5
        assert reason.endswith("(and 35 more)")


def test_a_body_over_the_limit_is_413_declared_or_chunked(tmp_path: Path) -> None:
    big = json.dumps({"word": "x" * MAX_BODY}).encode()

    def chunks() -> Any:
        yield big[:1000]
        yield big[1000:]

    with api_serving(tmp_path, CONFIG, ENV, routes=ROUTES) as api, api.client(**BEARER) as c:
        headers = {"content-type": "application/json"}
        declared = c.post("/v1/echo", content=big, headers=headers)
        chunked = c.post("/v1/echo", content=chunks(), headers=headers)
        for answer in (declared, chunked):
            assert answer.status_code == 413
            assert answer.json() == {"error": f"bodies are at most {MAX_BODY} bytes"}
        assert calls == []


def test_a_bad_path_parameter_is_422(tmp_path: Path) -> None:
    with api_serving(tmp_path, CONFIG, ENV, routes=ROUTES) as api, api.client(**BEARER) as c:
        answer = c.get("/v1/echo/ABC")
        assert answer.status_code == 422
        assert answer.json()["error"].startswith("word: String should match pattern")


def test_a_handler_that_raises_is_that_requests_500_logged_masked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with api_serving(tmp_path, CONFIG, ENV, routes=ROUTES) as api, api.client(**BEARER) as c:
        answer = c.post("/v1/echo", json={"word": "boom"})
        assert answer.status_code == 500
        assert answer.json() == {
            "error": "the request failed inside smsops; the server's log says why"
        }
        assert c.post("/v1/echo", json={"word": "ok"}).status_code == 200  # the server goes on
        assert api.count("echo", "failed") == 1
    logged = [r.getMessage() for r in caplog.records if r.name == "smsops.api"]
    assert len(logged) == 1
    assert "+447400123456" not in logged[0]
    assert "RuntimeError" in logged[0]


def test_the_document_is_served_and_lists_each_route_with_its_models(tmp_path: Path) -> None:
    with api_serving(tmp_path, CONFIG, ENV, routes=ROUTES) as api, api.client() as c:
        served = c.get("/openapi.json").json()
    assert served == json.loads(json.dumps(openapi(ROUTES)))
    post = served["paths"]["/v1/echo"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Echo"
    }
    assert {"200", "401", "422", "500"} <= set(post["responses"])
    get = served["paths"]["/v1/echo/{word}"]["get"]
    assert get["parameters"][0]["schema"]["pattern"] == "^[a-z]+$"
    assert {"Echo", "Echoed", "ApiError"} <= set(served["components"]["schemas"])
