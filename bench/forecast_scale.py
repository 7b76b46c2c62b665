"""The forecast's price: a plan with its forecast as a ratio to the plan alone, one run.

In process (the CLI has no switch that turns the forecast off: it is in
every plan), on bench/plan_scale.py's audience and template, warm cache:

- `once`: plan_scale.py's config as it is (one untriggered schedule, due
  now): its forecast plans nothing more;
- `daily cron`: the same schedule on `cron: '0 9 * * *'`, planned at 09:30
  (due now), so the forecast plans the next day's occurrence as if due:
  the audience read and every message rendered a second time.

    .venv/bin/python bench/forecast_scale.py            # 1,000,000 rows; 3 runs
    .venv/bin/python bench/forecast_scale.py --quick    # 20,000 rows, one run
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Series, arguments, interleaved, section, table, write_audience, write_config

from smsops.engine.forecast import HORIZON, make_forecast
from smsops.engine.planner import PlanOptions
from smsops.engine.project import load_project
from smsops.engine.round import plan_against
from smsops.ledger.memory import MemoryLedger

AT = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)


def main() -> None:
    args = arguments(__doc__ or "")
    size = 20_000 if args.quick else 1_000_000
    cache = Path(os.environ["SMSOPS_CACHE_DIR"])
    audience = write_audience(args.work / f"audience-{size}.csv", size)
    rows = []
    with section("Plan with a forecast", args):
        for kind in ("once", "daily cron"):
            root = write_config(
                args.work / f"forecast-{kind[0]}-{size}", "http://127.0.0.1:9/ot", str(audience)
            )
            if kind == "daily cron":
                yaml = root / "smsops.yaml"
                yaml.write_text(
                    yaml.read_text().replace(
                        "provider: ot}", "provider: ot, trigger: {cron: '0 9 * * *'}, window: 2h}"
                    )
                )
            config = load_project(root, cache)
            options = PlanOptions(cache_dir=cache)
            plain, forecast = Series(), Series()

            def plan_only() -> None:
                start = time.perf_counter()
                plan = plan_against(config, MemoryLedger(), AT, options)
                plain.add(time.perf_counter() - start)
                assert plan.to_send == size

            def with_forecast() -> None:
                start = time.perf_counter()
                ledger = MemoryLedger()
                plan = plan_against(config, ledger, AT, options)
                ahead = make_forecast(config, ledger, AT, HORIZON, lambda _: False, None, options)
                forecast.add(time.perf_counter() - start)
                assert plan.to_send == size
                assert ahead.messages == (7 * size if kind == "daily cron" else 0)

            plan_only()  # fills the normalised-number cache: both measured warm
            plain.values.clear()
            interleaved({"plain": plan_only, "forecast": with_forecast}, args.runs)
            ratio = forecast.median / plain.median
            rows.append([kind, f"{size:,}", plain.show(), forecast.show(), f"{ratio:.2f}×"])
            print(f"{kind} done", file=sys.stderr)
        print(table(["schedule", "recipients", "plan (s)", "plan + forecast (s)", "ratio"], rows))


if __name__ == "__main__":
    main()
