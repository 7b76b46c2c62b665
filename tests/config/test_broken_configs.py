"""A corpus of broken configs: each must exit 1 with the right file:line:col and no traceback."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from smsops.cli import main

BASE = """\
providers:
  ses:
    type: sendwithses
    template_keys: {transactional: "${env:SES_KEY}"}
templates:
  hello:
    category: transactional
    body: "Hi {{ name }}"
audiences:
  people:
    contacts:
      - {phone: "+447400123456", name: Sam}
"""

# (case id, YAML, expected "line:col", expected message fragment)
CASES: list[tuple[str, str, str, str]] = [
    ("yaml-syntax", "providers:\n  ses: [\n", "3:1", "YAML syntax error"),
    (
        "yaml-bad-indent",
        "providers:\n  ses:\n    type: aoc\n   base_url: x\n",
        "4:4",
        "YAML syntax error",
    ),
    ("yaml-tab", "providers:\n\tses: {}\n", "2:1", "YAML syntax error"),
    (
        "yaml-unquoted-ref-in-flow",
        "providers:\n  x: {type: aoc, api_key: ${env:K}}\n",
        "2:",
        "quote references",
    ),
    (
        "yaml-duplicate-key",
        "templates:\n  a: {category: otp, body: x}\n  a: {category: otp, body: y}\n",
        "3:3",
        "duplicate key 'a'",
    ),
    (
        "yaml-custom-tag",
        "templates:\n  a: !!python/object {category: otp}\n",
        "2:6",
        "unsupported YAML tag",
    ),
    ("yaml-two-documents", "templates: {}\n---\naudiences: {}\n", "2:1", "single document"),
    ("top-level-list", "- providers\n", "1:1", "must be a mapping"),
    ("unknown-section", "schedule:\n  a: {}\n", "1:1", "did you mean 'schedules'"),
    ("section-not-mapping", "templates: [a, b]\n", "1:12", "must be a mapping of names"),
    (
        "bad-name",
        "templates:\n  'hello world': {category: otp, body: x}\n",
        "2:3",
        "not a valid name",
    ),
    (
        "unknown-provider-key",
        BASE.replace("    type: sendwithses\n", "    type: sendwithses\n    sender_idd: X\n"),
        "4:5",
        "did you mean 'sender_id'",
    ),
    (
        "missing-provider-type",
        "providers:\n  ses:\n    base_url: https://x\n",
        "3:5",
        "missing required key 'type'",
    ),
    (
        "unknown-provider-type",
        "providers:\n  ses:\n    type: vonage\n",
        "3:11",
        "unknown provider type 'vonage'",
    ),
    (
        "provider-type-typo",
        "providers:\n  ses:\n    type: skycor\n",
        "3:11",
        "did you mean 'skycore'",
    ),
    (
        "literal-secret",
        "providers:\n  ot:\n    type: opentact\n    token: eyJhbGciOi\n    from: '+12017771234'\n",
        "4:12",
        "secrets never live in YAML",
    ),
    (
        "malformed-env-ref",
        "providers:\n  ot:\n    type: opentact\n    token: '${ENV:JWT}'\n    from: '+12017771234'\n",
        "4:12",
        "secrets never live in YAML",
    ),
    (
        "bad-env-ref-in-text",
        "providers:\n  aoc:\n    type: aoc\n    base_url: https://x\n    api_key: '${env:K}'\n    sender: '${env:}'\n",
        "6:13",
        "read only in the credential fields of a provider of type aoc (api_key, webhook_token)",
    ),
    (
        "from-mask-12-chars",
        "providers:\n  sky:\n    type: skycore\n    base_url: https://x\n    api_key: '${env:K}'\n    from: '00000'\n    from_mask: ACMEACMEACME\n",
        "7:16",
        "a mask has at most 11",
    ),
    (
        "campaign-ref-required",
        "providers:\n  sky:\n    type: skycore\n    base_url: https://x\n    api_key: '${env:K}'\n    from: '00000'\n    enforce_campaign_check: true\n",
        "3:5",
        "campaign_ref is required",
    ),
    (
        "opentact-from-not-digits",
        "providers:\n  ot:\n    type: opentact\n    token: '${env:K}'\n    from: ACME\n",
        "5:11",
        "Opentact sends `from` as digits",
    ),
    (
        "unquoted-number",
        "providers:\n  ot:\n    type: opentact\n    token: '${env:K}'\n    from: +12017771234\n",
        "5:11",
        "quote phone numbers",
    ),
    (
        "bad-duration",
        BASE.replace("    template_keys:", "    timeout: 10 seconds\n    template_keys:"),
        "4:14",
        "not a duration",
    ),
    (
        "duration-without-unit",
        BASE.replace("    template_keys:", "    timeout: 10\n    template_keys:"),
        "4:14",
        "write the unit",
    ),
    (
        "bad-rate",
        BASE.replace("    template_keys:", "    rate_limit: fast\n    template_keys:"),
        "4:17",
        "not a rate",
    ),
    (
        "wrong-type-int",
        BASE.replace("    template_keys:", "    max_in_flight: many\n    template_keys:"),
        "4:20",
        "max_in_flight",
    ),
    (
        # It validated as 1: YAML's true is not a number.
        "bool-as-int",
        BASE.replace("    template_keys:", "    max_in_flight: true\n    template_keys:"),
        "4:20",
        "write a number",
    ),
    (
        "quoted-int",
        BASE.replace("    template_keys:", '    max_in_flight: "16"\n    template_keys:'),
        "4:20",
        "write a number",
    ),
    (
        "bool-as-price",
        BASE.replace("    template_keys:", "    price_per_segment: true\n    template_keys:"),
        "4:24",
        "write a number",
    ),
    (
        "bad-url",
        BASE.replace("    template_keys:", "    base_url: api.example\n    template_keys:"),
        "4:15",
        "not an http(s) URL",
    ),
    (
        "bad-category",
        "templates:\n  a: {category: promo, body: x}\n",
        "2:17",
        "'transactional', 'marketing' or 'otp'",
    ),
    (
        "jinja-syntax",
        "templates:\n  a: {category: otp, body: 'Hi {{ name '}\n",
        "2:28",
        "Jinja syntax error",
    ),
    (
        "provider-template-variables",
        "templates:\n  a:\n    category: marketing\n    body: '{{ name }} {{ pct }}'\n    provider_template: {id: '1', variables: [name]}\n",
        "5:45",
        "must be exactly the body's variables",
    ),
    (
        "provider-template-text-with-variables",
        "templates:\n  a:\n    category: marketing\n    body: '{{ name }}'\n    provider_template: {id: '1', send: text, variables: [name]}\n",
        "5:57",
        "send: text sends the rendered body beside the template id",
    ),
    (
        "provider-template-unknown-form",
        "templates:\n  a:\n    category: marketing\n    body: '{{ name }}'\n    provider_template: {id: '1', send: both}\n",
        "5:40",
        "'custom' or 'text'",
    ),
    (
        "flash-on-ses",
        BASE.replace('    body: "Hi {{ name }}"', '    body: "Hi {{ name }}"\n    flash: true')
        + "schedules:\n  s: {template: hello, audience: people, provider: ses}\n",
        "15:52",
        "flash SMS, which provider 'ses'",
    ),
    (
        "missing-template-key",
        BASE.replace("transactional", "marketing", 1)
        + "schedules:\n  s: {template: hello, audience: people, provider: ses}\n",
        "14:52",
        "no template_keys.transactional",
    ),
    (
        "missing-template-ref",
        BASE + "schedules:\n  s: {template: helo, audience: people, provider: ses}\n",
        "14:17",
        "did you mean 'hello'",
    ),
    (
        "missing-audience-ref",
        BASE + "schedules:\n  s: {template: hello, audience: nobody, provider: ses}\n",
        "14:34",
        "no audience named 'nobody'",
    ),
    (
        "missing-provider-in-list",
        BASE + "schedules:\n  s: {template: hello, audience: people, provider: [ses, sky]}\n",
        "14:58",
        "no provider named 'sky'",
    ),
    (
        "provider-listed-twice",
        BASE + "schedules:\n  s: {template: hello, audience: people, provider: [ses, ses]}\n",
        "14:52",
        "listed twice",
    ),
    (
        "variable-nobody-supplies",
        BASE.replace("Hi {{ name }}", "Hi {{ name }} {{ code }}")
        + "schedules:\n  s: {template: hello, audience: people, provider: ses}\n",
        "14:3",
        "needs code",
    ),
    (
        "bad-cron",
        BASE
        + "schedules:\n  s:\n    template: hello\n    audience: people\n    provider: ses\n    trigger: {cron: '0 25 * * *'}\n",
        "18:21",
        "invalid cron expression",
    ),
    (
        "bad-timezone",
        BASE
        + "schedules:\n  s:\n    template: hello\n    audience: people\n    provider: ses\n    trigger: {cron: '0 9 * * *', timezone: Europe/Londn}\n",
        "18:44",
        "unknown time zone 'Europe/Londn'",
    ),
    (
        "two-triggers",
        BASE
        + "schedules:\n  s:\n    template: hello\n    audience: people\n    provider: ses\n    trigger: {cron: '0 9 * * *', every: 1h}\n",
        "18:14",
        "exactly one of cron, every, at",
    ),
    (
        "window-without-trigger",
        BASE
        + "schedules:\n  s:\n    template: hello\n    audience: people\n    provider: ses\n    window: 2h\n",
        "18:13",
        "`window` needs a `trigger`",
    ),
    (
        "bad-quiet-hours",
        BASE
        + "schedules:\n  s:\n    template: hello\n    audience: people\n    provider: ses\n    trigger: {every: 1h}\n    quiet_hours: {start: '25:00', end: '08:00'}\n",
        "19:26",
        "not a time of day",
    ),
    (
        "bad-at",
        BASE
        + "schedules:\n  s:\n    template: hello\n    audience: people\n    provider: ses\n    trigger: {at: 'next tuesday'}\n",
        "18:19",
        "not a date-time",
    ),
    (
        "unknown-schedule-key",
        BASE
        + "schedules:\n  s:\n    template: hello\n    audience: people\n    provider: ses\n    tigger: {every: 1h}\n",
        "18:5",
        "did you mean 'trigger'",
    ),
    (
        "exclude-missing",
        "audiences:\n  a:\n    contacts: [{phone: '+447400123456'}]\n    exclude: [optout]\n",
        "4:15",
        "no audience named 'optout'",
    ),
    (
        "exclude-cycle",
        "audiences:\n  a:\n    contacts: [{phone: '+447400123456'}]\n    exclude: [b]\n  b:\n    contacts: [{phone: '+447400123457'}]\n    exclude: [a]\n",
        "4:14",
        "cycle",
    ),
    (
        "empty-audience",
        "audiences:\n  a: {phone_column: tel}\n",
        "2:6",
        "needs a `source` CSV file",
    ),
    (
        "bad-region",
        "audiences:\n  a:\n    default_region: UK\n    contacts: [{phone: '07400123456'}]\n",
        "3:21",
        "not an ISO 3166 region",
    ),
    ("csv-missing", "audiences:\n  a: {source: nowhere.csv}\n", "2:15", "does not exist"),
    (
        "csv-no-phone-column",
        "audiences:\n  a: {source: people.csv}\n",
        "2:15",
        "has no column 'phone' (did you mean 'phones'?)",
    ),
    (
        "csv-no-timezone-column",
        "audiences:\n  a: {source: people.csv, phone_column: phones, timezone_column: tz}\n",
        "2:66",
        "has no column 'tz'",
    ),
    (
        "contact-without-phone",
        "audiences:\n  a:\n    contacts: [{name: Sam}]\n",
        "3:16",
        "missing required key 'phone'",
    ),
]


@pytest.mark.parametrize(("case", "text", "position", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_broken_config_is_reported_at_its_place(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    text: str,
    position: str,
    fragment: str,
) -> None:
    (tmp_path / "people.csv").write_text("phones,name\n+447400123456,Sam\n")
    config = tmp_path / f"{case}.yaml"
    config.write_text(textwrap.dedent(text))

    assert main(["validate", str(config)]) == 1

    err = capsys.readouterr().err
    assert "Traceback" not in err
    matching = [line for line in err.splitlines() if line.startswith(f"{config}:{position}")]
    assert matching, f"no problem at {position}:\n{err}"
    assert any(fragment in line for line in matching), err


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


def test_every_problem_is_reported_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "many.yaml"
    config.write_text(
        "providers:\n  x: {type: nope}\n"
        "templates:\n  a: {category: otp, body: '{{'}\n"
        "schedules:\n  s: {template: b, audience: c, provider: x}\n"
    )
    assert main(["validate", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"{config}:2:13: provider 'x': unknown provider type 'nope'" in err
    assert f"{config}:4:28: template 'a': Jinja syntax error" in err
    assert f"{config}:6:17: schedule 's': no template named 'b'" in err
    assert f"{config}:6:30: schedule 's': no audience named 'c'" in err
    # 'x' is defined (but invalid): reported once, where it is defined.
    assert "no provider named 'x'" not in err
    assert "problems found; nothing was sent" in err


def test_duplicate_name_across_files_names_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text("templates:\n  t: {category: otp, body: x}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yml").write_text("templates:\n\n  t: {category: otp, body: y}\n")
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'sub' / 'b.yml'}:3:3: duplicate template name 't'" in err
    assert f"also defined at {tmp_path / 'a.yaml'}:2:3" in err


# A number pasted where it does not belong: every message that quotes it masks it.
NUMBER = "447400987654"
MISPLACED = [
    ("window", f"schedules:\n  s: {{template: hello, audience: people, window: '+{NUMBER}'}}\n"),
    (
        "bare-window",
        f"schedules:\n  s: {{template: hello, audience: people, window: '{NUMBER}'}}\n",
    ),
    (
        "every",
        f"schedules:\n  s: {{template: hello, audience: people, trigger: {{every: '+{NUMBER}'}}}}\n",
    ),
    (
        "cron",
        f"schedules:\n  s: {{template: hello, audience: people, trigger: {{cron: '+{NUMBER}'}}}}\n",
    ),
    (
        "at",
        f"schedules:\n  s: {{template: hello, audience: people, trigger: {{at: '+{NUMBER}'}}}}\n",
    ),
    ("audience-name", f"schedules:\n  s: {{template: hello, audience: '+{NUMBER}'}}\n"),
    ("template-name", f"schedules:\n  s: {{template: '{NUMBER}', audience: people}}\n"),
    ("section", f"'+{NUMBER}': {{}}\n"),
    ("from", f"providers:\n  o: {{type: opentact, token: '${{env:T}}', from: '+{NUMBER}9999'}}\n"),
    ("exclude", f"audiences:\n  x: {{contacts: [], exclude: ['+{NUMBER}']}}\n"),
    ("spaced", "schedules:\n  s: {template: hello, audience: people, window: '+44 7400 987654'}\n"),
    (
        "dashed",
        "schedules:\n  s: {template: hello, audience: people, window: '+44-7400-987-654'}\n",
    ),
    (
        "bracket",
        "schedules:\n  s: {template: hello, audience: people, window: '+44 (0)7400987654'}\n",
    ),
    (
        "nanp",
        "schedules:\n  s: {template: hello, audience: people, window: '+1 (447) 400-987654'}\n",
    ),
]


@pytest.mark.parametrize(("case", "extra"), MISPLACED, ids=[c for c, _ in MISPLACED])
@pytest.mark.parametrize("output", ["text", "json"])
def test_a_misplaced_phone_number_is_masked_in_every_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, extra: str, output: str
) -> None:
    root = tmp_path / case
    root.mkdir()
    (root / "smsops.yaml").write_text(BASE + extra)
    assert main(["validate", str(root), "--format", output]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert out + err, "validate said nothing"
    digits = "".join(c for c in out + err if c.isdigit() or c in "\n:")
    assert NUMBER not in digits  # however it was spaced
    assert NUMBER[2:] not in digits  # not even without its country code


def test_masking_leaves_paths_dates_and_limits_whole() -> None:
    from smsops.core.errors import Location, Problem

    kept = [
        "also defined at /srv/cfg/backup_202611281314/a.yaml:2:3",
        "at: '2026-11-22 09:00' is in the past",
        "2026-11-22T09:00:00+01:00 (+01:00)",
        "the file is over 1048576 bytes (64 MiB: 67108864)",
        "cron '0 9 * * 1-5' never fires",
        # durations and values with a unit are not numbers a phone could be
        "expiry: '999999999d' is out of range: write from 30s to 1d",
        "window: '1234567890.5s' is out of range",
        "'99999999999ms' is out of range",
        "rate_limit: '1000000000/s' is out of range",
    ]
    for message in kept:
        assert Problem(Location(Path("f")), message).message == message


def test_an_oversized_otp_duration_is_quoted_whole_and_a_number_beside_it_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "smsops.yaml").write_text(BASE)
    (tmp_path / "otp.yaml").write_text(
        "templates:\n  code:\n    category: otp\n    body: 'Code {{ code }}'\n"
        f"    otp: {{expiry: 999999999s, send_window: '{NUMBER}'}}\n"
    )
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "'999999999s' is out of range: write from" in err  # it was '99****999s'
    assert NUMBER[2:] not in "".join(c for c in err if c.isdigit())


def test_every_international_spelling_phonenumbers_makes_is_masked() -> None:
    """The oracle: phonenumbers' own E.164 and international formats of real example numbers."""
    import random

    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    from smsops.core.errors import Location, Problem

    rng = random.Random(7)
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
        if example is None:
            continue
        national = str(example.national_number)
        if len(national) < 6:
            continue  # too short to tell from a count in a message
        # another number of the same shape: the last digits changed at random
        tail = "".join(rng.choice("0123456789") for _ in range(3))
        number = phonenumbers.parse(f"+{example.country_code}{national[:-3]}{tail}")
        for style in (PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL):
            written = phonenumbers.format_number(number, style)
            message = Problem(Location(Path("f")), f"window: '{written}' is not a duration").message
            digits = "".join(c for c in message if c.isdigit())
            assert str(number.national_number) not in digits, (region, written, message)
            checked += 1
    assert checked > 400
