"""load_adjusted_bars reads raw bars by binary COPY and applies market.adjustment_factor_ranges in numpy:
the frames must equal those read from market.ohlc_bars_adjusted, bit for bit, around splits, reverse
splits and dividends, for every window (warm-up before the first day, short histories, no bars). And
feature rows are encoded for COPY by numpy byte for byte as pgpq encoded them from Arrow."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from swiftbolt.calendars.sessions import session_dates
from swiftbolt.db.connection import connect
from swiftbolt.db.copy import encode_arrow
from swiftbolt.features.store import (
    _load_adjusted_bars_from_view,
    adjustment_factors,
    feature_rows_payload,
    load_adjusted_bars,
    load_adjusted_bars_by_timeframe,
)
from swiftbolt.market_data.corporate_actions import write_corporate_actions
from swiftbolt.market_data.ingest import RunInfo, ingest_bars
from swiftbolt.market_data.types import Timeframe
from swiftbolt.providers.synthetic import SyntheticProvider
from tests.helpers import add_symbols

pytestmark = pytest.mark.warehouse


def test_adjustment_factors_pick_the_range_holding_each_day() -> None:
    lowest = np.iinfo(np.int64).min
    ranges = (np.array([lowest, 10, 20]), np.array([10, 20, 30]), np.array([0.25, 0.5, 0.9]),
              np.array([4.0, 2.0, 1.0]))
    price, volume = adjustment_factors(ranges, np.array([-5, 9, 10, 19, 20, 29, 30, 40]))
    assert price.tolist() == [0.25, 0.25, 0.5, 0.5, 0.9, 0.9, 1.0, 1.0]
    assert volume.tolist() == [4.0, 4.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0]
    price, volume = adjustment_factors(tuple(np.array([]) for _ in range(4)), np.array([1, 2]))
    assert price.tolist() == [1.0, 1.0] and volume.tolist() == [1.0, 1.0]


def test_raw_bars_times_factor_ranges_equal_the_adjusted_view(warehouse_url: str) -> None:
    ids = add_symbols(warehouse_url, {"NVDA": "us_equity", "MSFT": "us_equity", "SPY": "us_equity"})
    provider = SyntheticProvider()
    days = session_dates("us_equity", dt.date(2025, 5, 1), dt.date(2025, 9, 30))
    ingest_bars(warehouse_url, provider, "us_equity", ids, days, [Timeframe.D1, Timeframe.M15], RunInfo())
    actions = provider.corporate_actions(["NVDA", "MSFT"], days[0], days[-1])
    # more events, so that a symbol has several ranges: a dividend and a reverse split of NVDA
    extra = pd.DataFrame([
        {"symbol": "NVDA", "action_type": "cash_dividend", "ex_date": dt.date(2025, 7, 16), "ratio": None,
         "cash_amount": 0.37},
        {"symbol": "NVDA", "action_type": "reverse_split", "ex_date": dt.date(2025, 9, 3), "ratio": 0.1,
         "cash_amount": None},
    ])
    actions = pd.concat([actions, extra.reindex(columns=actions.columns)], ignore_index=True)
    with connect(warehouse_url) as conn, conn.transaction():
        write_corporate_actions(conn, actions, ids, days[0], days[-1], "synthetic")
    with connect(warehouse_url) as conn:
        ranges = conn.execute("SELECT symbol_id, count(*) FROM market.adjustment_factor_ranges "
                              "GROUP BY 1").fetchall()
    assert dict(ranges)[ids["NVDA"]] >= 3 and dict(ranges)[ids["MSFT"]] >= 1 and ids["SPY"] not in dict(ranges)

    windows = [(days[0], days[-1], 0), (days[40], days[-1], 500), (days[60], days[70], 25),
               (days[30], days[31], 3), (dt.date(2025, 6, 14), dt.date(2025, 6, 15), 7),  # a weekend
               (dt.date(2024, 1, 2), dt.date(2024, 3, 1), 10), (days[-1], dt.date(2025, 12, 31), 200)]
    compared = 0
    with connect(warehouse_url) as conn:
        for symbol in ("NVDA", "MSFT", "SPY"):
            for tf in ("d1", "h1", "m15"):
                for first, last, warm in windows:
                    got = load_adjusted_bars(conn, ids[symbol], tf, first, last, warm)
                    want = _load_adjusted_bars_from_view(conn, ids[symbol], tf, first, last, warm)
                    if want.empty:
                        assert got.empty, (symbol, tf, first, last, warm)
                        continue
                    pd.testing.assert_frame_equal(got, want, check_exact=True)
                    compared += len(got)
            for first, last, warm in windows:
                # all timeframes of the symbol in one round trip (w1 from the view)
                together = load_adjusted_bars_by_timeframe(conn, ids[symbol], ["d1", "h1", "m15", "w1"], first, last,
                                                           warm)
                assert list(together) == ["d1", "h1", "m15", "w1"]
                for tf, got in together.items():
                    want = _load_adjusted_bars_from_view(conn, ids[symbol], tf, first, last, warm)
                    if want.empty:
                        assert got.empty, (symbol, tf, first, last, warm)
                    else:
                        pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert compared > 10_000


def feature_values_array(features: pd.DataFrame, columns: list[str]) -> pa.Array:
    """The feature matrix as an Arrow list<float64> column (one list per row, in `columns` order);
    NaN and inf become NULL elements."""
    matrix = features[columns].to_numpy(dtype=np.float64, copy=True)
    matrix[~np.isfinite(matrix)] = np.nan
    values = pa.array(matrix.ravel(), type=pa.float64(), from_pandas=True)
    offsets = pa.array(np.arange(0, matrix.size + 1, len(columns), dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values)


def _pgpq_payload(symbol_id: int, timeframe: str, set_id: int, rows: pd.DataFrame, columns: list[str]) -> bytes:
    """The rows as the Arrow table write_feature_rows used to encode with pgpq."""
    n = len(rows)
    table = pa.table({
        "symbol_id": pa.array(np.full(n, symbol_id, dtype=np.int64)),
        "timeframe": pa.array([timeframe] * n, type=pa.string()),
        "ts": pa.array(rows["ts"].dt.tz_convert("UTC")).cast(pa.timestamp("us", tz="UTC")),
        "session_date": pa.array(rows["session_date"]).cast(pa.timestamp("s")).cast(pa.date32()),
        "feature_set_id": pa.array(np.full(n, set_id, dtype=np.int64)),
        "warmup_complete": pa.array(rows["warmup_complete"].to_numpy(dtype=bool)),
        "feature_values": feature_values_array(rows, columns),
    })
    return b"".join(encode_arrow(table))


@pytest.mark.parametrize("nulls", ["none", "leading", "runs", "scattered"])
@pytest.mark.parametrize("timeframe", ["d1", "m15"])
def test_feature_rows_payload_equals_pgpq(nulls: str, timeframe: str) -> None:
    rng = np.random.default_rng(7)
    columns = [f"f{i}" for i in range(65)]
    n = 300
    values = rng.normal(size=(n, len(columns))) * 10.0 ** rng.integers(-8, 8, size=(n, len(columns)))
    if nulls != "none":
        values[:40, :20] = np.nan  # warm-up: leading NaNs
        values[5, 3], values[6, 4], values[7, :] = np.inf, -np.inf, np.nan
    if nulls == "runs":  # a few runs of rows with NULLs, one at the end
        values[100:103, 7], values[200, 64], values[298:, 0] = np.nan, np.inf, np.nan
    if nulls == "scattered":  # more runs than are compacted one by one
        values[rng.random(values.shape) < 0.01] = np.nan
    rows = pd.DataFrame(values, columns=columns)
    ts = pd.date_range("2024-03-08 14:30", periods=n, freq="15min", tz="America/New_York")
    rows.insert(0, "ts", ts)
    rows["session_date"] = ts.tz_localize(None).normalize()
    rows["warmup_complete"] = np.arange(n) >= 50
    got = b"".join(feature_rows_payload(42, timeframe, 3, rows, columns))
    assert got == _pgpq_payload(42, timeframe, 3, rows, columns)
