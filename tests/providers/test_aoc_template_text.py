"""AOC's two provider-template forms (seed 003): `templateId` + `custom`, and
`templateId` + `text` (the rendered text of a template registered at AOC)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from smsops.config.models import ProviderTemplate, Template
from smsops.providers.base import Accepted, Message
from smsops.sandbox.server import Sandbox
from tests.providers.conftest import make_adapter

TEMPLATE_ID = "1507165650000000000"
WITH_TEXT = Message(
    "+919820012345", "Hello World!", template_id=TEMPLATE_ID, template_form="text", region="IN"
)


def test_template_with_text_body_is_the_seeds_send_template_sms_request() -> None:
    # Seed 003, "Send Template SMS": sender, to, text, type, templateId, in this order.
    request = make_adapter("aoc").build([WITH_TEXT])
    body = json.loads(request.content)
    assert list(body) == ["sender", "to", "text", "type", "templateId"]
    assert body == {
        "sender": "AOCAPI",
        "to": "919820012345",
        "text": "Hello World!",
        "type": "TRANS",
        "templateId": TEMPLATE_ID,
    }
    assert request.url.path == "/sms"


def test_template_with_custom_body_is_unchanged() -> None:
    message = Message("+919820012345", "Dear Asha", template_id=TEMPLATE_ID, custom=("Asha",))
    body = json.loads(make_adapter("aoc").build([message]).content)
    assert body == {
        "sender": "AOCAPI",
        "to": "919820012345",
        "type": "TRANS",
        "templateId": TEMPLATE_ID,
        "custom": ["Asha"],
    }


def _post(sandbox: Sandbox, body: dict[str, object]) -> httpx.Response:
    with httpx.Client(timeout=5) as client:
        return client.post(
            sandbox.base_url("aoc") + "/sms", json=body, headers={"apiKey": "aoc-SECRET"}
        )


def test_the_emulator_accepts_template_with_text_and_records_the_text(sandbox: Sandbox) -> None:
    adapter = make_adapter("aoc", base_url=sandbox.base_url("aoc"))
    with httpx.Client(timeout=5) as client:
        response = client.send(adapter.build([WITH_TEXT]))
    (result,) = adapter.parse(response, [WITH_TEXT])
    assert isinstance(result, Accepted), result
    (seen,) = sandbox.state.snapshot()
    assert seen["text"] == "Hello World!"
    assert seen["request"]["templateId"] == TEMPLATE_ID


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"text": "Hello", "custom": ["a"]}, "templateId takes either text or custom"),
        ({}, "templateId needs custom (an array, blank when"),
        ({"text": ""}, "templateId needs custom (an array, blank when"),
    ],
)
def test_the_emulator_refuses_mixed_or_incomplete_template_requests(
    sandbox: Sandbox, extra: dict[str, object], error: str
) -> None:
    base = {"sender": "AOCAPI", "to": "919820012345", "type": "TRANS", "templateId": TEMPLATE_ID}
    response = _post(sandbox, base | extra)
    assert response.status_code == 400
    assert error in response.json()["error"]
    assert sandbox.state.snapshot() == []


def test_a_template_declares_its_form_and_mixing_them_is_refused() -> None:
    assert ProviderTemplate(id="1").send == "custom"
    assert ProviderTemplate(id="1", send="text").send == "text"
    with pytest.raises(ValueError, match="send: text sends the rendered body"):
        ProviderTemplate(id="1", send="text", variables=["name"])
    with pytest.raises(ValueError, match="Input should be 'custom' or 'text'"):
        ProviderTemplate(id="1", send="both")


def test_the_message_of_a_text_template_carries_the_rendered_text_and_no_custom() -> None:
    from smsops.core.errors import Location
    from smsops.core.recipient import Recipient, Source
    from smsops.engine.messages import message_for
    from smsops.render.renderer import Rendered

    template = Template(
        category="transactional",
        body="Hello {{ name }}",
        provider_template=ProviderTemplate(id=TEMPLATE_ID, send="text"),
    )
    rendered = Rendered("Hello Asha", "GSM-7", 1, ())
    message = message_for(
        rendered,
        Recipient(
            "+919820012345", "IN", Source(("phone",), Location(Path("x.csv"))), ["+919820012345"]
        ),
        template,
    )
    assert (message.template_id, message.template_form, message.custom) == (
        TEMPLATE_ID,
        "text",
        (),
    )
    assert message.text == "Hello Asha"
