"""Hostile API requests (issue 22): each gets a clean 4xx with a reason that quotes
nothing, nothing is claimed or sent, and the server goes on serving. Over real
loopback sockets to the run server (tests/daemon/apiserver.py), the provider the
sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from smsops.daemon.api import MAX_BODY
from smsops.sandbox.server import Sandbox
from tests.daemon.apiserver import BEARER, ENV, api_serving, on_sandbox

NUMBER = "+447400123456"
SECRET_LOOKING = "sk_live_51HqLyjWDarjtT1zdp7dc"


def config(sandbox: Sandbox) -> str:
    return on_sandbox(
        sandbox.base_url("skycore"), '  t: {category: transactional, body: "Hi {{ name }}"}\n'
    )


def body(**changes: Any) -> dict[str, Any]:
    return {
        "template": "t",
        "to": NUMBER,
        "vars": {"name": "Sam"},
        "idempotency_key": "k",
    } | changes


HOSTILE: list[tuple[str, bytes, int]] = [
    ("deep-json", b'{"vars": ' + b'{"a": ' * 2000 + b"1" + b"}" * 2001, 400),
    ("many-keys", json.dumps({f"k{i}": i for i in range(1000)}).encode(), 422),
    ("many-vars", json.dumps(body(vars={f"v{i}": "x" for i in range(51)})).encode(), 422),
    ("var-name-injection", json.dumps(body(vars={"a b}}{{": "x"})).encode(), 422),
    ("template-traversal", json.dumps(body(template="../../etc/passwd")).encode(), 422),
    ("key-newline", json.dumps(body(idempotency_key="k\r\nX-Evil: 1")).encode(), 422),
    ("key-too-long", json.dumps(body(idempotency_key="k" * 129)).encode(), 422),
    ("nul-in-number", json.dumps(body(to="+44740\x000123456")).encode(), 422),
    ("number-too-long", json.dumps(body(to="+" + "4" * 40)).encode(), 422),
    ("number-as-int", json.dumps(body(to=447400123456)).encode(), 422),
    ("vars-not-a-map", json.dumps(body(vars=[NUMBER])).encode(), 422),
    ("bidi-key", json.dumps(body(idempotency_key="k\u202egnp.exe")).encode(), 422),
    ("surrogate", b'{"template": "\\ud800", "to": "x", "idempotency_key": "k"}', 422),
    ("utf16-bom", "\ufeff".encode("utf-16") + json.dumps(body()).encode("utf-16-le"), 400),
    (
        "infinity",
        b'{"template": "t", "to": "x", "vars": {"a": Infinity}, "idempotency_key": "k"}',
        400,
    ),
    ("secret-in-provider", json.dumps(body(provider=SECRET_LOOKING)).encode(), 422),
]


@pytest.mark.parametrize(
    ("content", "status"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE]
)
def test_a_hostile_body_is_refused_cleanly_and_nothing_is_sent(
    tmp_path: Path, sandbox: Sandbox, content: bytes, status: int
) -> None:
    headers = {"content-type": "application/json"}
    with api_serving(tmp_path, config(sandbox), ENV) as api, api.client(**BEARER) as c:
        answer = c.post("/v1/messages", content=content, headers=headers)
        assert answer.status_code == status, answer.text
        reason = answer.json()["error"]
        assert len(reason) < 600
        for leaked in ("7400", "444444", SECRET_LOOKING, "passwd", "Evil", "Traceback"):
            assert leaked not in reason
        assert sandbox.state.snapshot() == []
        assert api.ledger.stats() == {}
        assert c.get("/v1/messages/k").status_code == 404  # and it still serves


def test_a_body_as_large_as_allowed_is_read_and_one_past_it_is_not(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    padding = " " * (MAX_BODY - len(json.dumps(body())))
    fits = (json.dumps(body()) + padding).encode()
    assert len(fits) == MAX_BODY
    with api_serving(tmp_path, config(sandbox), ENV) as api, api.client(**BEARER) as c:
        headers = {"content-type": "application/json"}
        assert c.post("/v1/messages", content=fits + b" ", headers=headers).status_code == 413
        assert c.post("/v1/messages", content=fits, headers=headers).json()["status"] == "sent"
        assert len(sandbox.state.snapshot()) == 1
        assert api.count("send_message", "too_large") == 1


def test_a_variable_holding_template_syntax_is_sent_as_text_never_evaluated(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    hostile = "{{ self.__init__.__globals__ }}{% for x in range(10**9) %}x{% endfor %}"
    with api_serving(tmp_path, config(sandbox), ENV) as api, api.client(**BEARER) as c:
        answer = c.post("/v1/messages", json=body(vars={"name": hostile}))
        assert answer.json()["status"] == "sent"
    assert [m["text"] for m in sandbox.state.snapshot()] == [f"Hi {hostile}"]
