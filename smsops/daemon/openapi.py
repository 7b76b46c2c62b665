"""The API's OpenAPI 3.1 document, generated from the routes and their pydantic models.

One home for the shapes: the same models validate each request and write
each answer (daemon/api.py), and make this document. It is served at
`/openapi.json` and committed as docs/openapi.json (`python -m
smsops.daemon.openapi > docs/openapi.json`; tests/daemon/test_api_openapi.py
fails when the two drift). A route joins it by joining `API_ROUTES`
(daemon/http.py): nothing here names a route.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from smsops import __version__
from smsops.daemon.api import ApiError, ApiRoute

VALIDATION: Literal["validation"] = "validation"
REFUSALS = {
    400: "Not JSON, or nested too deeply",
    401: "The bearer token is missing or wrong; nothing was recorded",
    404: "Not found here (also: the API is off, the config has no `api` map)",
    409: "The idempotency key was used with a different request",
    413: "The body is over the size limit",
    415: "The body is not application/json",
    422: "The request cannot be sent as it is (fields, template, number); nothing was sent",
    429: "This address sent wrong tokens too often: wait `Retry-After` seconds (its token "
    "was not compared)",
    500: "It failed inside smsops; the server's log says why",
    503: "The API cannot take it now (its token is not set, or too weak to be used)",
}


def openapi(routes: Sequence[ApiRoute]) -> dict[str, Any]:
    models: dict[str, type[BaseModel]] = {ApiError.__name__: ApiError}
    for route in routes:
        for model in [route.body, *(m for m, _ in route.answers.values())]:
            if model is not None:
                models[model.__name__] = model
    keyed = [(model, VALIDATION) for model in models.values()]
    _, schema = models_json_schema(keyed, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "smsops API",
            "version": __version__,
            "description": "Transactional sends from the config's templates (docs/api.md).",
        },
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(model)}}


def _operation(route: ApiRoute) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(status): {"description": when, "content": _json(model)}
        for status, (model, when) in sorted(route.answers.items())
    }
    for status in (*route.refusals, 500):
        responses.setdefault(
            str(status), {"description": REFUSALS[status], "content": _json(ApiError)}
        )
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "responses": dict(sorted(responses.items())),
    }
    if route.params is not None:
        fields = route.params.model_json_schema()["properties"]
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": schema}
            for name, schema in fields.items()
        ]
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": _json(route.body)}
    return operation


def document_text(routes: Sequence[ApiRoute]) -> str:
    """The document as committed in docs/openapi.json (stable key order)."""
    return json.dumps(openapi(routes), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    from smsops.daemon.http import API_ROUTES

    print(document_text(API_ROUTES), end="")
