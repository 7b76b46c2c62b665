"""`plan` and `plan --base REF` as ratios to a plain plan of the same config, same run.

"plain": the due-now plan alone, in process (`load_project`, then
`plan_against`: the CLI has no switch that leaves the forecast out);
"plan" and "plan --base HEAD": the CLI in process (`smsops plan CONFIG
--ledger memory://`, output to /dev/null), which plans with the forecast.
On bench/plan_scale.py's audience and template, warm cache, each config in
its own git repository (base committed, head in the working tree), interleaved:

- `wording, once`: plan_scale.py's config (one untriggered schedule), the
  template's wording changed: the base is loaded, its schedule has no fire
  to forecast, 3 samples are rendered on each side;
- `wording, daily cron`: the same on `cron: '0 9 * * *'`, planned at 09:30:
  the head's forecast and the base's forecast of the changed schedule are
  planned in the due-now plan's read of the audience (engine/diff_pass.py),
  every message rendered once more with the base's template;
- `one CSV row added, daily cron`: the audience changed, so the schedule is
  forecast at base in its own read, and the members compared are the ones
  the head's and the base's passes read.

    .venv/bin/python bench/base_diff_scale.py            # 1,000,000 rows; 3 runs
    .venv/bin/python bench/base_diff_scale.py --quick    # 20,000 rows, one run
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import arguments, ratio_row, section, table, timed_beside, write_audience, write_config

from smsops.cli import main as smsops
from smsops.engine.planner import PlanOptions, plan_against
from smsops.engine.project import load_project
from smsops.ledger.memory import MemoryLedger

AT = "2027-03-01T09:30:00Z"
CRON = "provider: ot, trigger: {cron: '0 9 * * *'}, window: 2h}"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def _repo(work: Path, kind: str, audience: Path) -> Path:
    repo = work / f"base-{kind.replace(' ', '-').replace(',', '')}"
    if repo.exists():
        subprocess.run(["rm", "-rf", str(repo)], check=True)
    root = write_config(repo / "config", "http://127.0.0.1:9/ot", str(audience))
    yaml = root / "smsops.yaml"
    if "cron" in kind:
        yaml.write_text(yaml.read_text().replace("provider: ot}", CRON))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    if kind.startswith("wording"):
        text = yaml.read_text()
        yaml.write_text(text.replace("body: '", "body: 'Changed: ", 1))
        assert yaml.read_text() != text
    else:  # a new last row: the link is replaced by a copy, then appended to
        csv = root / "audience.csv"
        data = csv.read_bytes()
        csv.unlink()
        csv.write_bytes(data + b"+447999999999,New,A9999999\n")
    return root


def _plan(root: Path, *extra: str) -> int:
    argv = ["plan", str(root), "--at", AT, "--ledger", "memory://", *extra]
    with open(os.devnull, "w") as out, contextlib.redirect_stdout(out):
        return smsops(argv)


def main() -> None:
    args = arguments(__doc__ or "")
    size = 20_000 if args.quick else 1_000_000
    cache = Path(os.environ["SMSOPS_CACHE_DIR"])
    audience = write_audience(args.work / f"audience-{size}.csv", size)
    at = datetime.fromisoformat(AT)
    rows = []
    with section("plan --base", args):
        for kind in ("wording, once", "wording, daily cron", "one CSV row added, daily cron"):
            root = _repo(args.work, kind, audience)

            def plain(root: Path = root) -> None:
                config = load_project(root, cache)
                plan = plan_against(config, MemoryLedger(), at, PlanOptions(cache_dir=cache))
                assert plan.to_send >= size

            def plan(root: Path = root) -> None:
                assert _plan(root) == 0

            def based(root: Path = root) -> None:
                assert _plan(root, "--base", "HEAD", "--detailed-exitcode") == 2

            variants = {"plain": plain, "plan": plan, "base": based}
            rows.append(ratio_row([kind, f"{size:,}"], timed_beside(variants, args.runs)))
            print(f"{kind} done", file=sys.stderr)
        headers = ["change", "recipients", "plain plan (s)", "plan (s)", "plan --base (s)"]
        print(table([*headers, "plan ratio", "--base ratio"], rows))


if __name__ == "__main__":
    main()
