"""A provider URL that only breaks once its secret is filled in: a clear error, nothing sent.

A reference is read in base_url only as its whole value (tests/attacks/test_references.py):
the URL comes from the environment whole, and the key is inside it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.attacks.harness import BASE_NUMBERS, BASE_REST, SECRETS, run_cli, write_config

PROVIDER = """\
providers:
  ses:
    type: skycore
    base_url: {url}
    api_key: ${{env:SKY_KEY}}
    from: "12025550100"
"""


KEY = SECRETS["SKY_KEY"]


@pytest.mark.parametrize(
    "url",
    [
        f"http://[{KEY}]",  # an IPv6 literal that is not one
        f"http://{KEY}:99999999/x",  # a port out of range
        KEY,  # no scheme, no host: not a URL at all
        f"http://user:{KEY}@127.0.0.1:9/x",  # credentials in the URL
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_secret_that_breaks_the_url_stops_apply_before_sending(
    tmp_path: Path, url: str, dry_run: bool
) -> None:
    provider = PROVIDER.format(url='"${env:SKY_URL}"')
    config = write_config(tmp_path, {"p.yaml": provider, "r.yaml": BASE_REST})
    ledger = tmp_path / "ledger.sqlite"
    args = ["apply", str(config), "--yes", "--ledger", str(ledger)] + ["--dry-run"] * dry_run
    outcome = run_cli(args, cwd=tmp_path, env={"SKY_URL": url})
    outcome.assert_safe(
        code=1,
        located=r"provider 'ses': its base_url is not a valid URL",
        numbers=BASE_NUMBERS,
        ledger=ledger,
    )
    assert "Applied:" not in outcome.output


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://user:pw-LITERAL-7c1@127.0.0.1:9/twilio", "must not hold a user or password"),
        ("http://user:pw-LITERAL-7c1@[zz]/x", "must not hold a user or password"),
        ("ftp://127.0.0.1/x", r"is not an http\(s\) URL"),
        ("http://127.0.0.1:99999999/x", "is not a valid URL"),
    ],
)
def test_a_literal_bad_base_url_is_refused_where_it_is_written(
    tmp_path: Path, url: str, message: str
) -> None:
    config = write_config(tmp_path, {"p.yaml": PROVIDER.format(url=url), "r.yaml": BASE_REST})
    outcome = run_cli(["validate", str(config)], cwd=tmp_path)
    outcome.assert_safe(code=1, located=r"p\.yaml:4:\d+: .*" + message, numbers=BASE_NUMBERS)
    assert "pw-LITERAL-7c1" not in outcome.output  # a password in a URL is never quoted
