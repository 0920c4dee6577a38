"""Shared setup of the forecast tests: a small synthetic market in a test warehouse (d1 bars, feature rows,
S/R levels) written the way the feature assets write them."""

from __future__ import annotations

import datetime as dt
import itertools

import pandas as pd

from swiftbolt.calendars.sessions import session_dates
from swiftbolt.db.connection import connect
from swiftbolt.features.feature_set import default_feature_set
from swiftbolt.features.indicators import WARMUP_BARS, compute_features, feature_columns
from swiftbolt.features.sr_levels import sr_levels_series
from swiftbolt.features.store import ensure_feature_set, load_adjusted_bars, write_feature_rows, write_sr_levels
from swiftbolt.market_data.ingest import RunInfo, ingest_bars
from swiftbolt.market_data.types import Timeframe
from swiftbolt.providers.synthetic import SyntheticProvider
from tests.helpers import add_symbols

MARKET = "us_equity"


def seed_bars(url: str, tickers: dict[str, tuple[dt.date, dt.date]]) -> dict[str, int]:
    """Synthetic d1 bars per ticker over its own [first, last] sessions; returns ticker -> id."""
    ids = add_symbols(url, dict.fromkeys(tickers, MARKET))
    for ticker, (first, last) in tickers.items():
        days = session_dates(MARKET, first, last)
        ingest_bars(url, SyntheticProvider(), MARKET, {ticker: ids[ticker]}, days, [Timeframe.D1], RunInfo())
    return ids


def seed_features(url: str, ids: dict[str, int], first: dt.date, last: dt.date,
                  timeframes: tuple[str, ...] = ("d1",)) -> None:
    """Feature rows of the timeframes and d1 S/R levels of every session in [first, last], as the feature
    assets compute them."""
    columns = feature_columns()
    with connect(url) as conn, conn.transaction():
        set_id = ensure_feature_set(conn, default_feature_set(), "1")
        for sid, timeframe in itertools.product(ids.values(), timeframes):
            bars = load_adjusted_bars(conn, sid, timeframe, first, last, WARMUP_BARS)
            if bars.empty:
                continue
            dates = sorted({d.date() for d in bars["session_date"] if first <= d.date() <= last})
            feats = compute_features(bars)
            feats["session_date"] = bars["session_date"].to_numpy()
            keep = feats["session_date"].isin(pd.to_datetime(dates))
            write_feature_rows(conn, sid, timeframe, set_id, dates, feats[keep], columns)
            if timeframe != "d1":
                continue
            levels = sr_levels_series(bars, 120)
            levels["session_date"] = bars["session_date"].to_numpy()
            write_sr_levels(conn, sid, dates, levels[levels["session_date"].isin(pd.to_datetime(dates))])
