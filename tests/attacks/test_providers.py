"""Hostile provider configs (Twilio: Basic auth, form bodies, an account id in the URL path).

Each case is a config a pull request could bring; each must fail (or work)
with a clear located message and no secret, no Basic-auth header and no
full number printed or stored.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from smsops.sandbox.server import Sandbox
from tests.attacks.harness import BASE_NUMBERS, SECRETS, Outcome, run_cli, write_config

# The account SID and auth token come from the harness's secrets.
TWILIO = """\
providers:
  tw:
    type: twilio
    base_url: {url}
    account_sid: "${{env:SKY_KEY}}"
    auth_token: "${{env:AOC_KEY}}"
{extra}"""
PAIR = f"{SECRETS['SKY_KEY']}:{SECRETS['AOC_KEY']}"
BASIC = base64.b64encode(PAIR.encode()).decode()
REST = f"""\
templates:
  hello: {{category: transactional, body: "Hi {{{{ name }}}}"}}
audiences:
  people: {{contacts: [{{phone: "{BASE_NUMBERS[0]}", name: Sam}}, {{phone: "{BASE_NUMBERS[1]}", name: Al}}]}}
schedules:
  greet: {{template: hello, audience: people, provider: tw}}
"""


def twilio(
    url: str = "https://api.twilio.example.invalid", extra: str = '    from: "+12025550100"\n'
) -> str:
    return TWILIO.format(url=url, extra=extra)


def assert_no_basic_auth(outcome: Outcome, ledger: Path) -> None:
    """The `sid:token` pair, base64'd as the header carries it, is never shown or stored."""
    for spelling in (BASIC, BASIC.rstrip("="), PAIR):
        assert spelling not in outcome.output
        stored = b"".join(p.read_bytes() for p in ledger.parent.glob(ledger.name + "*"))
        assert spelling.encode() not in stored


# (case id, providers YAML, location regex, message fragment)
INVALID = [
    (
        "literal-auth-token",
        twilio().replace('"${env:AOC_KEY}"', "tok-literal-LEAKME-1234"),
        r"p\.yaml:6:17",
        "secrets never live in YAML",
    ),
    (
        "literal-account-sid",
        twilio().replace('"${env:SKY_KEY}"', "AC-literal-LEAKME-5678"),
        r"p\.yaml:5:18",
        "secrets never live in YAML",
    ),
    (
        "both-senders",
        twilio(extra='    from: "+12025550100"\n    messaging_service_sid: MG123\n'),
        r"p\.yaml:\d+:\d+",
        "exactly one of from and messaging_service_sid",
    ),
    (
        "no-sender",
        twilio(extra=""),
        r"p\.yaml:\d+:\d+",
        "exactly one of from and messaging_service_sid",
    ),
    (
        "status-callback-not-http",
        twilio(extra='    from: "+12025550100"\n    status_callback: "file:///etc/passwd"\n'),
        r"p\.yaml:\d+:\d+",
        "status_callback",
    ),
]


@pytest.mark.parametrize(
    ("case", "text", "located", "fragment"), INVALID, ids=[c[0] for c in INVALID]
)
def test_a_hostile_twilio_config_is_refused_at_its_place(
    tmp_path: Path, case: str, text: str, located: str, fragment: str
) -> None:
    config = write_config(tmp_path, {"p.yaml": text, "r.yaml": REST})
    outcome = run_cli(["validate", str(config)], cwd=tmp_path)
    outcome.assert_safe(code=1, located=located, numbers=BASE_NUMBERS)
    assert fragment in outcome.output
    assert "LEAKME" not in outcome.output  # a literal secret is not quoted back


def test_an_account_sid_that_tries_to_leave_the_url_path_stays_one_segment(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """A SID holding `/../` and `?`: one percent-encoded path segment, so no other route."""
    config = write_config(tmp_path, {"p.yaml": twilio(sandbox.base_url("twilio")), "r.yaml": REST})
    ledger = tmp_path / "ledger.sqlite"
    env = {"SKY_KEY": "AC/../../_sandbox/faults?x=SECRET-sid"}
    args = ["apply", str(config), "--yes", "--ledger", str(ledger)]
    outcome = run_cli(args, cwd=tmp_path, env=env)
    outcome.assert_safe(code=1, numbers=BASE_NUMBERS, ledger=ledger)
    assert "HTTP 404" in outcome.output  # no route matched: the segment did not split
    assert sandbox.state.snapshot() == []
    assert "SECRET-sid" not in outcome.output
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("ledger.sqlite*"))
    assert b"SECRET-sid" not in stored


@pytest.mark.parametrize("status", [400, 500])
def test_twilio_echoing_the_request_leaks_no_basic_auth(
    tmp_path: Path, sandbox: Sandbox, status: int
) -> None:
    """Every answer writes the request back: the Basic header, the URL with the SID, the form."""
    config = write_config(tmp_path, {"p.yaml": twilio(sandbox.base_url("twilio")), "r.yaml": REST})
    ledger = tmp_path / "ledger.sqlite"
    sandbox.state.faults.update({"echo_every": 1, "echo_status": status})
    outcome = run_cli(["apply", str(config), "--yes", "--ledger", str(ledger)], cwd=tmp_path)
    outcome.assert_safe(code=1, numbers=BASE_NUMBERS, ledger=ledger)
    assert_no_basic_auth(outcome, ledger)
    export = run_cli(
        ["ledger", "export", "--format", "jsonl", "--ledger", str(ledger)], cwd=tmp_path
    )
    export.assert_safe(code=0, numbers=BASE_NUMBERS, ledger=ledger)
    errors = [str(json.loads(line)["error"]) for line in export.stdout.splitlines()]
    assert len(errors) == 2
    assert all("authorization: basic ***" in error.lower() for error in errors), errors
