"""`--base REF` takes a ref from whoever opens a pull request: it is refused when it
could be an option, too long or not a commit; the base is read into a temporary
directory that is always removed; a base that does not load is shown, not a crash."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from smsops.cli import main
from smsops.config.base_ref import MAX_REF
from tests.diff.test_base_acceptance import AT, DAILY, commit, git, plan, write


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root / "config", 3, DAILY)
    commit(root)
    return root


@pytest.fixture(autouse=True)
def _own_temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Checkouts go to a directory of this test's own: in the shared one, another worker's
    # checkout came and went between a test's two looks (xdist), failing it.
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))


def _leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("smsops-base-*")}


@pytest.mark.parametrize(
    ("ref", "said"),
    [
        ("--output=/tmp/x", "may not start with '-'"),
        ("-h", "may not start with '-'"),
        ("a" * (MAX_REF + 1), "a git ref of 1 to"),
        ("", "a git ref of 1 to"),
        ("main\nx", "control characters"),
        ("no-such-branch", "is not a commit of the repository"),
        ("HEAD:config/smsops.yaml", "is not a commit of the repository"),
        ("HEAD..HEAD", "is not a commit of the repository"),
        ("--end-of-options", "may not start with '-'"),
    ],
)
def test_a_hostile_or_unknown_ref_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str], ref: str, said: str
) -> None:
    before = _leftovers()
    argv = ["plan", str(repo / "config"), "--at", AT, "--ledger", "memory://"]
    code = main([*argv, f"--base={ref}"])  # the one way argparse takes a leading '-'
    assert code == 1
    assert said in capsys.readouterr().err
    assert _leftovers() == before


def test_the_temporary_checkout_is_removed_after_a_diff(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _leftovers()
    code, _ = plan(repo, capsys, "--base", "HEAD")
    assert code == 0
    assert _leftovers() == before


def test_a_config_outside_a_repository_is_told_to_use_base_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "config", 3, DAILY)
    code = main(["plan", str(tmp_path / "config"), "--at", AT, "--ledger", "memory://",
                 "--base", "HEAD"])  # fmt: skip
    assert code == 1
    assert "--base-config DIR" in capsys.readouterr().err


def test_a_base_that_does_not_load_is_shown_as_such(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    yaml = repo / "config" / "smsops.yaml"
    good = yaml.read_text()
    yaml.write_text(good.replace("template: promo", "template: nope"))
    commit(repo, "broken")
    yaml.write_text(good)
    code, out = plan(repo, capsys, "--base", "HEAD", "--format", "json")
    assert code == 0
    diff = json.loads(out)["diff"]
    assert diff["receives_changed"] is True
    (problem,) = diff["base_problems"]
    assert problem.startswith("HEAD:smsops.yaml:")
    assert "nope" in problem
    code, text = plan(repo, capsys, "--base", "HEAD", "--detailed-exitcode")
    assert code == 2
    assert "does not load" in text


def test_base_config_compares_with_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "base", 3, DAILY)
    write(tmp_path / "head", 4, DAILY)
    argv = ["plan", str(tmp_path / "head"), "--at", AT, "--ledger", "memory://"]
    assert main([*argv, "--base-config", str(tmp_path / "base"), "--format", "json"]) == 0
    diff = json.loads(capsys.readouterr().out)["diff"]
    (people,) = diff["audiences"]["changes"]
    assert people["recipients_added"] == 1
    assert people["recipients_removed"] == 0
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--base-config", str(tmp_path / "base"), "--base", "HEAD"])
    assert exited.value.code == 1
    assert "not allowed with argument" in capsys.readouterr().err
