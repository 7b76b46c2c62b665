"""The forecast's price: a plan with its forecast as a ratio to the plan alone, same run.

In process, on bench/plan_scale.py's audience and template, warm cache,
empty in-memory ledger. "plain" is the due-now plan alone (`plan_against`:
the CLI has no switch that leaves the forecast out); "plan + forecast" is
what `smsops plan` makes (`plan_with_forecast`):

- `once`: plan_scale.py's config as it is (one untriggered schedule, due
  now): its forecast plans nothing more;
- `daily cron`: the same schedule on `cron: '0 9 * * *'`, planned at 09:30
  (due now), so the forecast plans the next day's occurrence as if due, in
  the same read of the audience, taking the due-now renders (the template
  reads neither `now` nor `occurrence`);
- `daily cron, reads now`: the template also prints `{{ now.day }}`, so every
  message of the next occurrence is rendered again (the audience still read once).

    .venv/bin/python bench/forecast_scale.py            # 1,000,000 rows; 3 runs
    .venv/bin/python bench/forecast_scale.py --quick    # 20,000 rows, one run
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import arguments, ratio_row, section, table, timed_beside, write_audience, write_config

from smsops.config.loader import Config
from smsops.engine.forecast import HORIZON, plan_with_forecast
from smsops.engine.planner import PlanOptions, plan_against
from smsops.engine.project import load_project
from smsops.ledger.memory import MemoryLedger

AT = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)
CRON = "provider: ot, trigger: {cron: '0 9 * * *'}, window: 2h}"
KINDS = ("once", "daily cron", "daily cron, reads now")


def main() -> None:
    args = arguments(__doc__ or "")
    size = 20_000 if args.quick else 1_000_000
    cache = Path(os.environ["SMSOPS_CACHE_DIR"])
    audience = write_audience(args.work / f"audience-{size}.csv", size)
    rows = []
    with section("Plan with a forecast", args):
        for number, kind in enumerate(KINDS):
            root = write_config(
                args.work / f"forecast-{number}-{size}", "http://127.0.0.1:9/ot", str(audience)
            )
            yaml = root / "smsops.yaml"
            text = yaml.read_text()
            if "cron" in kind:
                text = text.replace("provider: ot}", CRON)
            if "now" in kind:
                text = text.replace("body: '", "body: 'Day {{ now.day }}: ", 1)
            yaml.write_text(text)
            config = load_project(root, cache)
            options = PlanOptions(cache_dir=cache)
            fires = 7 if "cron" in kind else 0

            def plain(config: Config = config) -> None:
                plan = plan_against(config, MemoryLedger(), AT, options)
                assert plan.to_send == size

            def with_forecast(config: Config = config, fires: int = fires) -> None:
                ledger = MemoryLedger()
                made = plan_with_forecast(
                    config, ledger, AT, HORIZON, lambda _: False, None, options
                )
                plan, ahead = made
                assert plan.to_send == size
                assert ahead.messages == fires * size

            series = timed_beside({"plain": plain, "forecast": with_forecast}, args.runs)
            rows.append(ratio_row([kind, f"{size:,}"], series))
            print(f"{kind} done", file=sys.stderr)
        headers = ["schedule", "recipients", "plain plan (s)", "plan + forecast (s)", "ratio"]
        print(table(headers, rows))


if __name__ == "__main__":
    main()
