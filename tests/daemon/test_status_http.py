"""GET /status.json over a real loopback socket: off without the `status` map, 401 and nothing
else without the right bearer token, and the same view `smsops status` prints."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest
from jsonschema import FormatChecker

from smsops.engine.status import status_of
from smsops.ledger.memory import MemoryLedger
from tests.daemon.apiserver import api_serving
from tests.ledger.seeding import NOW, generated, write
from tests.ledger.status_config import CONFIG, SCHEDULES

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "status.schema.json").read_text())
TOKEN = "status-token-0123456789-abcdefghijkl"
ENV = {"SKY_KEY": "k", "STATUS_TOKEN": TOKEN}
PRIVATE = "status:\n  token: ${env:STATUS_TOKEN}\n"


def _seeded() -> MemoryLedger:
    ledger = MemoryLedger()
    write(ledger, generated(9, SCHEDULES, 200))
    return ledger


def test_off_without_the_status_map_and_the_probes_stay_as_they_are(tmp_path: Path) -> None:
    with api_serving(tmp_path, CONFIG, ENV) as served, served.client() as client:
        answer = client.get("/status.json", headers={"authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 404
        assert "status view is off" in answer.json()["error"]
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer wrong",
        f"Basic {TOKEN}",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
    ],
)
def test_a_missing_or_wrong_token_gets_401_and_nothing_else(
    tmp_path: Path, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    serving = api_serving(tmp_path, PRIVATE + CONFIG, ENV, ledger=_seeded())
    with serving as served, served.client(**headers) as client:
        answer = client.get("/status.json")
        assert answer.status_code == 401
        assert answer.content == b""
        assert answer.headers["www-authenticate"] == "Bearer"
        assert client.get("/healthz").status_code == 200


def test_the_right_token_reads_the_view_the_cli_prints(tmp_path: Path) -> None:
    ledger = _seeded()
    with api_serving(tmp_path, PRIVATE + CONFIG, ENV, ledger=ledger) as served:
        ledger.note_holds({"beta": ("guardrail", "max_recipients: 3 > 2")}, NOW)
        occurrence = "2027-04-01T09:00:00+00:00"  # two shards' plans: the page sums them
        ledger.note_skips({("beta", occurrence, 0): {"opted_out": 1}})
        ledger.note_skips({("beta", occurrence, 1): {"opted_out": 1}})
        with served.client(authorization=f"Bearer {TOKEN}") as client:
            answer = client.get("/status.json")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["cache-control"] == "no-store"
        data = answer.json()
        validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=FormatChecker())
        assert [e.message for e in validator.iter_errors(data)] == []
        config = served.service.runner.config
        same = status_of(config, ledger, datetime.fromisoformat(data["generated_at"]), env=ENV)
        assert data == json.loads(same.to_json())
        beta = next(s for s in data["schedules"] if s["name"] == "beta")
        assert [h["reason"] for h in beta["held"]] == ["guardrail"]
        shown = next(o for o in beta["recent"] if o["occurrence"] == "2027-04-01T09:00:00+00:00")
        assert (shown["skips"], shown["counts"]["skipped"]) == ({"opted_out": 2}, 2)


def test_public_needs_no_token(tmp_path: Path) -> None:
    config = "status:\n  public: true\n" + CONFIG
    with api_serving(tmp_path, config, ENV, ledger=_seeded()) as served, served.client() as client:
        answer = client.get("/status.json")
        assert answer.status_code == 200
        assert answer.json()["version"] == 1


def test_an_unset_token_variable_is_503_naming_it(tmp_path: Path) -> None:
    env = {"SKY_KEY": "k"}
    with api_serving(tmp_path, PRIVATE + CONFIG, env) as served, served.client() as client:
        answer = client.get("/status.json", headers={"authorization": "Bearer x"})
        assert answer.status_code == 503
        assert "STATUS_TOKEN" in answer.json()["error"]
