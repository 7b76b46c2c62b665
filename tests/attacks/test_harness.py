"""The harness itself: a safe run passes, each kind of leak is caught."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.attacks.harness import (
    BASE_NUMBERS,
    BASE_PROVIDERS,
    BASE_REST,
    SECRETS,
    Outcome,
    run_cli,
    write_config,
)


def test_a_valid_config_is_safe(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"providers.yaml": BASE_PROVIDERS, "rest.yaml": BASE_REST})
    outcome = run_cli(["validate", str(config)], cwd=tmp_path)
    outcome.assert_safe(code=0, numbers=BASE_NUMBERS)


@pytest.mark.parametrize(
    "leak",
    [
        'Traceback (most recent call last):\n  File "x.py", line 1, in <module>',
        SECRETS["SES_KEY"],
        "+447400123456",
        "OUTSIDE-MARKER-c0ffee",
    ],
)
def test_each_leak_is_caught(leak: str) -> None:
    outcome = Outcome(("validate",), 1, "", f"x.yaml:1:1: {leak}", 0.1)
    with pytest.raises(AssertionError):
        outcome.assert_safe(located=r"x\.yaml:1:1", numbers=BASE_NUMBERS)


def test_a_hang_is_cut_short(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="still running"):
        run_cli(["sandbox", "--port", "0"], cwd=tmp_path, timeout=3)
