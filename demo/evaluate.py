"""`python -m demo.evaluate`: the Dagster half of `swiftbolt evaluate-forecasts` (the CLI prepares the scratch
warehouse, the universe file and the environment, then starts this as a child process).

Runs, through Dagster, the same assets as production on the vendor files (SWIFTBOLT_PROVIDER=files), one run
per range (single-run backfill policy):

1. reference data (`daily_refresh_job`: symbols from the directory, calendar, corporate actions from the files);
2. `ohlc_bars` and `feature_rows` over [history start, bars end];
3. `forecast_models` over every week whose training end can serve a forecast day;
4. `sr_levels`, `supertrend_signals`, `lgbm_forecasts`, `prophet_forecasts`, `ml_forecasts` over [start, end];

then scores the stored forecasts against the realised closes (swiftbolt.forecasts.evaluate_command) and prints
the table. Run events go to the log file named on the first line.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
import time
from pathlib import Path

from demo.console import ConsoleProgress
from swiftbolt.errors import SwiftboltError

FORECAST_ASSETS = ["sr_levels", "supertrend_signals", "lgbm_forecasts", "prophet_forecasts", "ml_forecasts"]
MARKET = "us_equity"


def run(start: dt.date, end: dt.date, history_start: dt.date, bars_end: dt.date, log_path: Path) -> int:
    out = sys.stdout
    began = time.monotonic()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out.write(f"log of every run event: {log_path}\n")
    out.flush()
    progress = ConsoleProgress(out)
    with open(log_path, "a", encoding="utf-8") as log, contextlib.redirect_stdout(log), \
            contextlib.redirect_stderr(log):
        progress.start("loading the code location (definitions.py)")
        loaded = time.monotonic()
        import dagster as dg

        from definitions import defs
        from demo.runner import (
            _execute,
            backfill_per_symbol,
            model_weeks,
            range_run,
            sync_symbol_partitions,
            train_models,
        )
        from swiftbolt.db.connection import connect
        from swiftbolt.db.warehouse import warehouse_url
        from swiftbolt.universe import active_symbols

        progress.done(f"{time.monotonic() - loaded:.0f}s")
        url = warehouse_url()
        try:
            with dg.DagsterInstance.ephemeral() as instance:
                _, outcome = _execute(defs.resolve_job_def("daily_refresh_job"), instance, progress,
                                      "reference data from the files")
                progress.done(f"{outcome.seconds:.0f}s")
                with connect(url) as conn:
                    tickers = list(active_symbols(conn, MARKET))
                sync_symbol_partitions(instance, MARKET, tickers)
                backfill_per_symbol(defs, instance, progress, MARKET, tickers, history_start, bars_end,
                                    ["ohlc_bars", "feature_rows"], what="bars and d1 features")
                weeks = model_weeks(MARKET, start - dt.timedelta(days=7), end - dt.timedelta(days=1))
                if weeks:
                    train_models(defs, instance, progress, MARKET, weeks)
                range_run(defs, instance, progress, MARKET, tickers, start, end, FORECAST_ASSETS,
                          what="forecasts")
        except SystemExit as exc:
            progress.done("FAILED")
            print(str(exc), file=sys.__stderr__)
            return 1
        log.flush()
    from swiftbolt.forecasts.evaluate_command import evaluate, format_table

    with connect(url) as conn:
        table = evaluate(conn, MARKET, start, end)
    out.write(f"\nOut-of-sample figures of the forecasts of {start}..{end} against the realised adjusted closes "
              f"(hit rate of the median's sign with its 95% Wilson interval; IC: Pearson per symbol over days, "
              f"mean; rank IC: Spearman across symbols per day, mean; coverage of the 80% interval), beside the "
              f"naive baselines on the same rows:\n\n{format_table(table)}\n\n")
    out.write(f"evaluate-forecasts finished in {time.monotonic() - began:.0f}s (log: {log_path})\n")
    out.flush()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.evaluate")
    for name in ("start", "end", "history-start", "bars-end"):
        parser.add_argument(f"--{name}", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    try:
        return run(args.start, args.end, args.history_start, args.bars_end, args.log)
    except SwiftboltError as exc:
        print(f"swiftbolt: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
