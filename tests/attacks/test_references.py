"""A config cannot send secrets or messages somewhere a reviewer does not see.

Any string could be `${env:ANY}`: a PR changing only `base_url:
"http://host/${env:PGPASSWORD}"` (or `sender_id`, `from_mask`, `campaign_ref`,
`status_callback`) got a plan comment identical to an honest one, and apply sent
the value to that host. Now `${env:...}` is read only in the fields the provider
models mark as credentials, and in `base_url` only as the whole value; anything
else is refused at its file:line:col, naming the fields that may hold one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from smsops.cli import main

SES = """\
providers:
  p:
    type: sendwithses
    template_keys: {transactional: "${env:SES_KEY}"}
"""
SKY = """\
providers:
  p:
    type: skycore
    base_url: https://sky.example.invalid/api
    api_key: ${env:SKY_KEY}
    from: "12025550100"
"""
TWILIO = """\
providers:
  p:
    type: twilio
    account_sid: ${env:TW_SID}
    auth_token: ${env:TW_TOKEN}
    from: "+12025550100"
"""
AOC = """\
providers:
  p:
    type: aoc
    base_url: https://one.telepie.com
    api_key: ${env:AOC_KEY}
    sender: AOCAPI
"""
REFERENCE = '"${env:PGPASSWORD}"'
INSIDE = '"http://collector.example.invalid/${env:PGPASSWORD}"'

# (id, base YAML, added line, line:col of the value, fields the message must name)
CASES = [
    (
        "base-url-holds-a-reference",
        SES,
        f"    base_url: {INSIDE}\n",
        "5:15",
        "template_keys.transactional",
    ),
    (
        "base-url-reference-in-host",
        SES,
        '    base_url: "https://${env:PGPASSWORD}.example"\n',
        "5:15",
        "template_keys.marketing",
    ),
    ("sender-id", SES, f"    sender_id: {REFERENCE}\n", "5:16", "template_keys.otp"),
    (
        "origination-number",
        SES,
        f"    origination_number: {REFERENCE}\n",
        "5:25",
        "template_keys.transactional",
    ),
    ("from-mask", SKY, f"    from_mask: {REFERENCE}\n", "7:16", "api_key"),
    ("campaign-ref", SKY, f"    campaign_ref: {REFERENCE}\n", "7:19", "api_key"),
    ("skycore-from", SKY.replace('"12025550100"', REFERENCE), "", "6:11", "api_key"),
    (
        "status-callback",
        TWILIO,
        f"    status_callback: {INSIDE}\n",
        "7:22",
        "account_sid, auth_token",
    ),
    (
        "messaging-service",
        TWILIO,
        f"    messaging_service_sid: {REFERENCE}\n",
        "7:28",
        "auth_token",
    ),
    ("aoc-sender", AOC.replace("AOCAPI", REFERENCE), "", "6:13", "api_key"),
]


@pytest.mark.parametrize(
    ("case", "base", "added", "position", "fields"), CASES, ids=[c[0] for c in CASES]
)
def test_a_reference_outside_a_credential_field_is_refused_where_it_is(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    base: str,
    added: str,
    position: str,
    fields: str,
) -> None:
    monkeypatch.setenv("PGPASSWORD", "pg-secret-value")
    (tmp_path / "providers.yaml").write_text(base + added)
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"providers.yaml:{position}" in err, err
    assert "${env:...} references are read only in the credential fields" in err, err
    assert fields in err, err
    assert "base_url" in err, err  # the one other place, as a whole value
    assert "Traceback" not in err
    assert "pg-secret-value" not in err


def test_a_contact_number_cannot_come_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text(
        'audiences:\n  a:\n    contacts:\n      - {phone: "${env:PGPASSWORD}"}\n'
    )
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "a.yaml:4:" in err, err
    assert "${env:...} references are read only" in err, err


@pytest.mark.parametrize(
    "yaml",
    [
        SES + '    base_url: "${env:SES_URL}"\n',  # a whole reference: shown by name in plans
        SKY.replace("https://sky.example.invalid/api", '"${env:SKY_URL}"'),
        SES,
        SKY,
        TWILIO,
        AOC,
    ],
)
def test_credentials_and_a_whole_base_url_reference_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], yaml: str
) -> None:
    (tmp_path / "providers.yaml").write_text(yaml)
    assert main(["validate", str(tmp_path)]) == 0, capsys.readouterr().err
