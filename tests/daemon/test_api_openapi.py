"""The API's OpenAPI document: committed as docs/openapi.json, served at /openapi.json,
both generated from the routes and their models (daemon/openapi.py)."""

from __future__ import annotations

from pathlib import Path

from smsops.daemon.http import API_ROUTES
from smsops.daemon.openapi import document_text, openapi
from tests.daemon.apiserver import API, ENV, PROVIDERS, api_serving

COMMITTED = Path(__file__).parents[2] / "docs" / "openapi.json"


def test_the_committed_document_is_what_the_routes_generate() -> None:
    assert COMMITTED.read_text() == document_text(API_ROUTES), (
        "docs/openapi.json is out of date: run "
        "`python -m smsops.daemon.openapi > docs/openapi.json` and read the diff"
    )


def test_the_server_serves_the_same_document_without_a_token(tmp_path: Path) -> None:
    with api_serving(tmp_path, API + PROVIDERS, ENV) as api, api.client() as c:
        served = c.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == openapi(API_ROUTES)


def test_every_route_is_in_the_document_with_its_refusals() -> None:
    paths = openapi(API_ROUTES)["paths"]
    for route in API_ROUTES:
        operation = paths[route.path][route.method.lower()]
        assert operation["operationId"] == route.name
        assert {str(s) for s in (*route.answers, *route.refusals, 500)} == set(
            operation["responses"]
        )
