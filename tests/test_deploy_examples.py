"""The deployment and CI examples are well-formed and run what the README says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "deploy").rglob("*.y*ml")) + sorted(
    (ROOT / "examples" / "ci").glob("*.yml")
)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_parses_and_runs_smsops(path: Path) -> None:
    documents = list(YAML(typ="safe").load_all(path.read_text()))
    assert documents
    assert all(isinstance(d, dict) for d in documents)
    assert "smsops" in path.read_text()


def test_dockerfile_runs_as_non_root_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "USER 10001:10001" in text
    assert "HEALTHCHECK" in text
    assert 'CMD ["run", "/config"]' in text
    assert 'VOLUME ["/var/lib/smsops"]' in text


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    done = subprocess.run(
        [str(hadolint), "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
