"""Honest figures: walk-forward out-of-sample accuracy of the forecast models beside the naive baselines,
on the synthetic market or on a directory of real daily bars (in memory, no warehouse).

    .venv/bin/python benchmarks/forecast_walkforward.py synthetic [--start 2021-01-04] [--end 2025-11-28]
    .venv/bin/python benchmarks/forecast_walkforward.py files ../shared/data/equity_daily [--start 2006-01-03]

`files` reads one CSV per symbol in the layout of ../shared/data/equity_daily/ (date, adj_open, adj_high,
adj_low, adj_close, split_adj_volume: split- and dividend-adjusted), directly with pandas until the file
provider exists. Prints one table: per horizon and model, n, hit rate with its 95% Wilson interval, MAE,
IC, rank IC, pooled rank IC, 80%-interval coverage, ECE of P(up).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from swiftbolt.forecasts.config import load_forecast_settings
from swiftbolt.forecasts.metrics import markdown_table
from swiftbolt.forecasts.walkforward import panel_from_bars, walk_forward
from swiftbolt.providers.synthetic import SyntheticProvider

SYNTHETIC = ("SPY", "QQQ", "TSLA", "AMZN", "ABC", "DEF", "GHI", "JKL", "MNO", "PQR")


def synthetic_bars(first: dt.date, last: dt.date) -> dict[str, pd.DataFrame]:
    """Synthetic d1 bars of symbols without corporate actions (raw = adjusted)."""
    frame = SyntheticProvider().bars(list(SYNTHETIC), "d1", dt.datetime(first.year, first.month, first.day),
                                     dt.datetime(last.year, last.month, last.day) + dt.timedelta(days=1))
    frame["session_date"] = pd.to_datetime(frame["ts"]).dt.tz_convert(None).dt.normalize()
    cols = ["session_date", "open", "high", "low", "close", "volume"]
    return {s: g[cols].reset_index(drop=True) for s, g in frame.groupby("symbol")}


def file_bars(directory: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for path in sorted(directory.glob("*.csv")):
        raw = pd.read_csv(path)
        if "adj_close" not in raw:
            continue
        out[path.stem] = pd.DataFrame({
            "session_date": pd.to_datetime(raw["date"]), "open": raw["adj_open"], "high": raw["adj_high"],
            "low": raw["adj_low"], "close": raw["adj_close"], "volume": raw["split_adj_volume"].astype(float),
        })
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", choices=["synthetic", "files"])
    parser.add_argument("directory", nargs="?", type=Path)
    parser.add_argument("--start", type=dt.date.fromisoformat)
    parser.add_argument("--end", type=dt.date.fromisoformat)
    parser.add_argument("--retrain-every", type=int, default=21, help="sessions between retrains")
    parser.add_argument("--prophet-every", type=int, default=10, help="fit Prophet every n-th session (0: off)")
    args = parser.parse_args()
    settings = load_forecast_settings()
    if args.source == "synthetic":
        bars = synthetic_bars(dt.date(2016, 1, 4), args.end or dt.date(2025, 12, 31))
        start = args.start or dt.date(2021, 1, 4)
    else:
        if args.directory is None:
            parser.error("files needs a directory")
        bars = file_bars(args.directory)
        start = args.start or dt.date(2006, 1, 3)
    end = args.end or max(b["session_date"].max() for b in bars.values()).date() - dt.timedelta(days=40)
    t0 = time.perf_counter()
    panel = panel_from_bars("us_equity", bars)
    table = walk_forward(panel, start, end, retrain_every=args.retrain_every, window=settings.train_sessions,
                         prophet_every=args.prophet_every, prophet_lookback=settings.prophet_lookback,
                         threads=settings.lgbm_threads)
    print(f"{args.source}: {len(bars)} symbols ({', '.join(sorted(bars))}), test {start}..{end}, retrain every "
          f"{args.retrain_every} sessions, window {settings.train_sessions}, Prophet every {args.prophet_every} "
          f"sessions ({time.perf_counter() - t0:.0f}s)\n")
    print(markdown_table(table, digits=3))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
