"""`plan --base REF` as a ratio to a plain plan of the same config, in the same run.

Through the CLI in process (`smsops plan CONFIG --ledger memory://`, output
to /dev/null), on bench/plan_scale.py's audience and template, warm cache,
each config in its own git repository (base committed, head in the working
tree), interleaved:

- `wording, once`: plan_scale.py's config (one untriggered schedule), the
  template's wording changed: the base is loaded, its schedule has no fire
  to forecast, 3 samples are rendered on each side;
- `wording, daily cron`: the same on `cron: '0 9 * * *'`, planned at 09:30:
  the changed schedule's next occurrence is also forecast at base (the
  audience read and every message rendered once more);
- `one CSV row added, daily cron`: the audience changed, so both sides'
  members are read in full and compared, and the schedule forecast at base.

    .venv/bin/python bench/base_diff_scale.py            # 1,000,000 rows; 3 runs
    .venv/bin/python bench/base_diff_scale.py --quick    # 20,000 rows, one run
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Series, arguments, interleaved, section, table, write_audience, write_config

from smsops.cli import main as smsops

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
    audience = write_audience(args.work / f"audience-{size}.csv", size)
    rows = []
    with section("plan --base", args):
        for kind in ("wording, once", "wording, daily cron", "one CSV row added, daily cron"):
            root = _repo(args.work, kind, audience)
            plain, based = Series(), Series()

            def plain_plan(root: Path = root, plain: Series = plain) -> None:
                start = time.perf_counter()
                assert _plan(root) == 0
                plain.add(time.perf_counter() - start)

            def base_plan(root: Path = root, based: Series = based) -> None:
                start = time.perf_counter()
                assert _plan(root, "--base", "HEAD", "--detailed-exitcode") == 2
                based.add(time.perf_counter() - start)

            plain_plan()  # fills the normalised-number cache: both measured warm
            plain.values.clear()
            interleaved({"plain": plain_plan, "base": base_plan}, args.runs)
            ratio = based.median / plain.median
            rows.append([kind, f"{size:,}", plain.show(), based.show(), f"{ratio:.2f}×"])
            print(f"{kind} done", file=sys.stderr)
        print(table(["change", "recipients", "plan (s)", "plan --base (s)", "ratio"], rows))


if __name__ == "__main__":
    main()
