"""Issue 20: `smsops plan CONFIG --base REF`: what a merge changes, per schedule,
template, audience and provider, over a real git repository made here.

Each test commits a base config, changes it (committed or left in the
working tree) and asks plan for the difference, as a pull-request job does.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from smsops.cli import main
from tests.apply.conftest import numbers

AT = "2027-03-01T12:00:00Z"  # a Monday noon UTC: the 09:00 cron is not due
PROVIDER = (
    "  ot: {type: opentact, base_url: 'http://127.0.0.1:9/opentact', token: '${env:OT_TOKEN}',"
    " from: '+12017771234', price_per_segment: {default: 0.01, currency: USD}}\n"
)
DAILY = (
    "  daily-promo: {template: promo, audience: people, provider: ot,"
    " trigger: {cron: '0 9 * * *'}, window: 2h}\n"
)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid",
         "-c", "commit.gpgsign=false", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout


def write(
    root: Path,
    count: int,
    schedules: str,
    *,
    provider: str = PROVIDER,
    body: str = "Hello {{ name }}, our daily offer.",
) -> None:
    root.mkdir(parents=True, exist_ok=True)
    rows = "\n".join(f"{n},P{i}" for i, n in enumerate(numbers(count)))
    (root / "people.csv").write_text("phone,name\n" + rows + "\n")
    (root / "smsops.yaml").write_text(
        "providers:\n" + provider + "templates:\n"
        f"  promo: {{category: transactional, body: '{body}'}}\n"
        "audiences:\n  people: {source: people.csv}\n"
        "schedules:" + ("\n" + schedules if schedules else " {}\n")
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    return root


def commit(repo: Path, message: str = "base") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def plan(repo: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    config = repo / "config"
    code = main(["plan", str(config), "--at", AT, "--ledger", "memory://", *extra])
    return code, capsys.readouterr().out


def diff_json(repo: Path, capsys: pytest.CaptureFixture[str], ref: str = "HEAD") -> dict:
    code, out = plan(repo, capsys, "--base", ref, "--format", "json")
    assert code == 0, out
    diff: dict = json.loads(out)["diff"]
    assert diff["version"] == 1
    return diff


def changed(diff: dict, kind: str, status: str) -> dict[str, dict]:
    return {c["name"]: c for c in diff[kind]["changes"] if c["status"] == status}


def test_a_new_daily_cron_on_20000_recipients_is_added_with_tomorrows_sends(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "config", 20_000, "")
    commit(repo)
    write(repo / "config", 20_000, DAILY)
    commit(repo, "add a daily promo")
    diff = diff_json(repo, capsys, "HEAD~1")
    added = changed(diff, "schedules", "added")["daily-promo"]
    after = added["forecast"]["after"]
    assert added["forecast"]["before"] is None
    assert after["next_occurrence"] == "2027-03-02T09:00:00Z"
    assert after["to_send"] == 20_000
    assert after["cost"] == {"USD": pytest.approx(200.0)}
    assert added["fires"]["after"][0] == "2027-03-02T09:00:00Z"
    assert diff["receives_changed"] is True
    code, text = plan(repo, capsys, "--base", "HEAD~1", "--detailed-exitcode")
    assert code == 2
    assert "daily-promo" in text
    assert "added" in text
    assert "20,000" in text
    assert "200.0000 USD" in text


def test_a_templates_new_wording_shows_before_and_after_on_the_same_samples(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "config", 5, DAILY)
    commit(repo)
    write(repo / "config", 5, DAILY, body="Hi {{ name }}, a new offer every day!")
    # left in the working tree: the PR's head is what is on disk
    diff = diff_json(repo, capsys)
    promo = changed(diff, "templates", "changed")["promo"]
    (first, *_) = promo["samples"]
    assert first["masked_phone"] == "+44 74** ***000"
    assert first["before"]["text"] == "Hello P0, our daily offer."
    assert first["after"]["text"] == "Hi P0, a new offer every day!"
    assert first["after"]["encoding"] == "GSM-7"
    assert first["after"]["segments"] == 1
    assert changed(diff, "schedules", "changed")["daily-promo"]["receives_changed"] is True
    code, text = plan(repo, capsys, "--base", "HEAD", "--detailed-exitcode")
    assert code == 2
    assert "Hello P0, our daily offer." in text
    assert "Hi P0, a new offer every day!" in text


def test_csv_rows_added_and_removed_are_counted_with_masked_samples(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "config", 5, DAILY)
    commit(repo)
    csv = repo / "config" / "people.csv"
    lines = csv.read_text().splitlines()
    extra = [f"+4475{i:08d},N{i}" for i in range(3)]
    csv.write_text("\n".join([lines[0], *lines[2:], *extra]) + "\n")  # row of P0 removed
    diff = diff_json(repo, capsys)
    people = changed(diff, "audiences", "changed")["people"]
    assert people["recipients_added"] == 3
    assert people["recipients_removed"] == 1
    assert people["removed_samples"] == ["+44 74** ***000"]
    assert all("*" in s for s in people["added_samples"])
    dumped = json.dumps(diff)
    assert "+447400000000" not in dumped
    assert "+447500000001" not in dumped
    assert diff["receives_changed"] is True


def test_a_cron_moved_into_quiet_hours_shows_who_will_now_be_skipped(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = DAILY.replace("window: 2h}", "window: 2h, quiet_hours: {start: '20:00', end: '08:00'}}")
    write(repo / "config", 4, quiet)
    commit(repo)
    write(repo / "config", 4, quiet.replace("0 9 * * *", "0 21 * * *"))
    diff = diff_json(repo, capsys)
    daily = changed(diff, "schedules", "changed")["daily-promo"]
    fields = {f["field"]: f for f in daily["fields"]}
    assert fields["trigger"]["before"] != fields["trigger"]["after"]
    assert daily["fires"]["before"][0] == "2027-03-02T09:00:00Z"
    assert daily["fires"]["after"][0] == "2027-03-01T21:00:00Z"
    before, after = daily["forecast"]["before"], daily["forecast"]["after"]
    assert before["to_send"] == 4
    assert before["skipped"] == {}
    assert after["to_send"] == 0
    assert after["skipped"] == {"quiet_hours": 4}
    assert len(after["skips"]) == 4
    _code, text = plan(repo, capsys, "--base", "HEAD")
    assert "quiet hours" in text
    assert "4" in text


def test_a_price_change_is_shown_and_changes_nobodys_messages(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "config", 3, DAILY)
    commit(repo)
    write(repo / "config", 3, DAILY, provider=PROVIDER.replace("0.01", "0.02"))
    diff = diff_json(repo, capsys)
    ot = changed(diff, "providers", "changed")["ot"]
    (price,) = [f for f in ot["fields"] if f["field"] == "price_per_segment"]
    assert "0.01" in price["before"]
    assert "0.02" in price["after"]
    assert ot["attention"] == []
    daily = changed(diff, "schedules", "changed")["daily-promo"]
    assert daily["forecast"]["after"]["cost"] == {"USD": pytest.approx(0.06)}
    assert daily["forecast"]["before"]["cost"] == {"USD": pytest.approx(0.03)}
    assert diff["receives_changed"] is False
    code, text = plan(repo, capsys, "--base", "HEAD", "--detailed-exitcode")
    assert code == 0
    assert "price_per_segment" in text


def test_a_providers_new_host_is_flagged_for_attention(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "config", 3, DAILY)
    commit(repo)
    moved = PROVIDER.replace("127.0.0.1:9", "127.0.0.2:9").replace("OT_TOKEN", "OT_TOKEN_NEW")
    write(repo / "config", 3, DAILY, provider=moved)
    diff = diff_json(repo, capsys)
    ot = changed(diff, "providers", "changed")["ot"]
    attention = " ".join(ot["attention"])
    assert "127.0.0.2" in attention
    assert "OT_TOKEN_NEW" in attention
    assert diff["attention"] == ["ot"]
    code, markdown = plan(repo, capsys, "--base", "HEAD", "--format", "markdown")
    assert "needs attention" in markdown
    code, _ = plan(repo, capsys, "--base", "HEAD", "--detailed-exitcode")
    assert code == 2


def test_a_disabled_schedule_enabled(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo / "config", 6, DAILY.replace("window: 2h}", "window: 2h, enabled: false}"))
    commit(repo)
    write(repo / "config", 6, DAILY)
    diff = diff_json(repo, capsys)
    daily = changed(diff, "schedules", "changed")["daily-promo"]
    assert {"field": "enabled", "before": "false", "after": "true"} in daily["fields"]
    assert daily["forecast"]["after"]["enabled"] is True
    assert daily["forecast"]["after"]["to_send"] == 6
    assert daily["receives_changed"] is True
    code, _ = plan(repo, capsys, "--base", "HEAD", "--detailed-exitcode")
    assert code == 2


def test_a_no_op_change_says_nothing_anyone_receives_changes(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "config", 6, DAILY)
    commit(repo)
    yaml = repo / "config" / "smsops.yaml"
    yaml.write_text("# reviewed: no change intended\n" + yaml.read_text())
    diff = diff_json(repo, capsys)
    assert diff["receives_changed"] is False
    for kind in ("schedules", "templates", "audiences", "providers"):
        assert diff[kind]["changes"] == []
        assert diff[kind]["unchanged"] == 1
    code, text = plan(repo, capsys, "--base", "HEAD", "--detailed-exitcode")
    assert code == 0
    assert "no change to what anyone receives" in text
    code, markdown = plan(repo, capsys, "--base", "HEAD", "--format", "markdown")
    assert "no change to what anyone receives" in markdown


def test_a_template_that_reads_now_is_not_changed_by_the_time_alone(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo / "config", 4, DAILY, body="Hello {{ name }}, {{ now.isoformat() }}")
    commit(repo)
    yaml = repo / "config" / "smsops.yaml"
    yaml.write_text(yaml.read_text().replace("window: 2h", "window: 3h"))  # the schedule changes
    diff = diff_json(repo, capsys)
    assert diff["templates"]["changes"] == []  # both sides render at the same time
    (schedule,) = diff["schedules"]["changes"]
    assert schedule["forecast"]["before"] == schedule["forecast"]["after"]
    code, _ = plan(repo, capsys, "--base", "HEAD", "--detailed-exitcode")
    assert code == 2  # the window changed: said, but nothing about the text


ONCE = "  notice: {template: promo, audience: people, provider: ot}\n"


def test_a_changed_once_schedule_due_now_says_so_on_each_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `once` schedule has no next occurrence: it is due now, and the change says that
    (it said `nothing → nothing`); disabled on a side, it is due there only if enabled."""
    write(tmp_path / "base", 2, ONCE)
    write(tmp_path / "config", 2, ONCE, body="Hi {{ name }}, a notice.")
    base = ["--base-config", str(tmp_path / "base")]
    code = main(["plan", str(tmp_path / "config"), "--at", AT, "--ledger", "memory://", *base])
    text = capsys.readouterr().out
    assert code == 0
    due = "sent once, from the first apply (see due now)"
    assert f"next occurrence: {due} → {due}" in text
    assert "nothing → nothing" not in text
    write(tmp_path / "base", 2, ONCE.replace("ot}", "ot, enabled: false}"))
    main(["plan", str(tmp_path / "config"), "--at", AT, "--ledger", "memory://", *base])
    text = capsys.readouterr().out
    assert f"next occurrence: once if enabled (disabled) → {due}" in text
