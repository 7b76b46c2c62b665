"""schemathesis against the committed docs/openapi.json, over loopback (issue 22).

An independent reader of our own document: it generates requests from each
route's schema, valid and not, sends them to a running API (its provider
the sandbox) and checks every answer against the document: no 5xx, only the
statuses, content types and shapes it declares, invalid data refused. A
route added to API_ROUTES joins the document, and with it this test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import load_all_checks
from schemathesis.specs.openapi.checks import positive_data_acceptance

from smsops.sandbox.server import Sandbox
from tests.daemon.apiserver import BEARER, ENV, ApiServed, api_serving, on_sandbox

load_all_checks()
COMMITTED = Path(__file__).parents[2] / "docs" / "openapi.json"
schema = schemathesis.openapi.from_dict(json.loads(COMMITTED.read_text()))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, sandbox_server: Sandbox) -> Iterator[ApiServed]:
    template = '  shipped: {category: transactional, body: "Order shipped"}\n'
    config = on_sandbox(sandbox_server.base_url("skycore"), template)
    with api_serving(tmp_path_factory.mktemp("api"), config, ENV) as served:
        yield served
    sandbox_server.state.reset()


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    database=None,  # nothing written to the working directory
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_one_the_document_declares(case: schemathesis.Case, api: ApiServed) -> None:
    # A request valid by the schema may still name a template the config lacks (422):
    # the document says so, and acceptance of valid data is not the API's promise.
    case.call_and_validate(
        base_url=api.base, headers=BEARER, excluded_checks=[positive_data_acceptance]
    )
