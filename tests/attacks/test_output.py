"""Output that cannot be written (a full disk) is a clear error, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.attacks.harness import BASE_NUMBERS, BASE_PROVIDERS, BASE_REST, run_cli, write_config

FULL = "/dev/full"  # every write fails with ENOSPC


@pytest.mark.skipif(not Path(FULL).exists(), reason="needs /dev/full")
@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_a_full_disk_under_the_plan_file_is_a_clear_error(tmp_path: Path, fmt: str) -> None:
    config = write_config(tmp_path, {"p.yaml": BASE_PROVIDERS, "r.yaml": BASE_REST})
    outcome = run_cli(["plan", str(config), "--format", fmt, "--report", FULL], cwd=tmp_path)
    outcome.assert_safe(
        code=1, located="error: cannot write: No space left on device", numbers=BASE_NUMBERS
    )
