"""A provider URL that only breaks once its secret is filled in: a clear error, nothing sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.attacks.harness import BASE_NUMBERS, BASE_REST, run_cli, write_config

PROVIDER = """\
providers:
  ses:
    type: skycore
    base_url: {url}
    api_key: ${{env:SKY_KEY}}
    from: "12025550100"
"""


@pytest.mark.parametrize(
    "url",
    [
        "http://[${env:SKY_KEY}]",  # an IPv6 literal that is not one
        "http://${env:SKY_KEY}:99999999/x",  # a port out of range
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_secret_that_breaks_the_url_stops_apply_before_sending(
    tmp_path: Path, url: str, dry_run: bool
) -> None:
    config = write_config(tmp_path, {"p.yaml": PROVIDER.format(url=url), "r.yaml": BASE_REST})
    ledger = tmp_path / "ledger.sqlite"
    args = ["apply", str(config), "--yes", "--ledger", str(ledger)] + ["--dry-run"] * dry_run
    outcome = run_cli(args, cwd=tmp_path)
    outcome.assert_safe(
        code=1,
        located=r"provider 'ses': its base_url is not a valid URL",
        numbers=BASE_NUMBERS,
        ledger=ledger,
    )
    assert "Applied:" not in outcome.output
