"""Feature assets per market (trading day x symbol), computed from split- and dividend-adjusted bars:
feature_rows (TA-Lib indicators + Alpha158-style features), sr_levels, supertrend_signals."""

import datetime as dt
from collections.abc import Callable

import dagster as dg
import pandas as pd

from assets.partitions import market_partitions, split_partition_keys
from resources import WarehouseResource
from swiftbolt.features.feature_set import default_feature_set
from swiftbolt.features.indicators import WARMUP_BARS, compute_features, feature_columns
from swiftbolt.features.sr_levels import sr_levels_series
from swiftbolt.features.store import (
    ensure_feature_set,
    load_adjusted_bars,
    write_feature_rows,
    write_sr_levels,
    write_supertrend_signals,
)
from swiftbolt.features.supertrend_signals import supertrend_signals
from swiftbolt.universe import active_symbols

OWNERS = ["team:quant-research"]
FEATURES_CODE_VERSION = "1"
FEATURE_TIMEFRAMES = ("d1", "h1", "m15")
SR_LOOKBACK = 120


def _upstream(market: str) -> list[dg.AssetKey]:
    keys = [dg.AssetKey([market, "ohlc_bars"])]
    if market == "us_equity":
        keys.append(dg.AssetKey([market, "corporate_actions"]))
    return keys


def _partitions(context: dg.AssetExecutionContext, warehouse: WarehouseResource, market: str
                ) -> tuple[dict[str, list[dt.date]], dict[str, int]]:
    by_symbol = split_partition_keys(list(context.partition_keys))
    with warehouse.connection() as conn:
        ids = active_symbols(conn, market)
    unknown = sorted(set(by_symbol) - set(ids))
    if unknown:
        raise dg.Failure(f"symbols {unknown} are not active {market} symbols")
    return by_symbol, ids


def _in_dates(frame: pd.DataFrame, dates: list[dt.date]) -> pd.DataFrame:
    return frame[frame["session_date"].isin(pd.to_datetime(dates))]


def _common(market: str, name: str) -> dict:
    return dict(
        key=[market, name], partitions_def=market_partitions(market), backfill_policy=dg.BackfillPolicy.single_run(),
        deps=_upstream(market), group_name=f"{market}_features", kinds={"postgres", "python"}, owners=OWNERS,
        code_version=FEATURES_CODE_VERSION,
    )


def build_feature_rows(market: str) -> dg.AssetsDefinition:
    warmup_check = dg.AssetCheckSpec("warmup_complete", asset=[market, "feature_rows"],
                                     description="Rows without enough history for exact indicator values.")

    @dg.asset(**_common(market, "feature_rows"), check_specs=[warmup_check])
    def feature_rows(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Feature rows (ml.feature_rows) for d1, h1 and m15 bars from adjusted prices: TA-Lib RSI, MACD,
        ADX, ATR, Bollinger, Stochastic, Williams %R, CCI, MFI, OBV slope; SuperTrend on TA-Lib's ATR
        (TA-Lib has no SuperTrend); returns, volatility, volume ratios, Alpha158-style candle and
        rolling features. Each partition loads 500 earlier bars of warm-up so its values equal a
        full-history computation; bars with less history are marked warmup_complete = false. Values
        of day D use bars up to D only. The definition's hash is recorded in ml.feature_sets."""
        by_symbol, ids = _partitions(context, warehouse, market)
        definition = default_feature_set()
        columns = feature_columns()
        written: dict[str, int] = {}
        incomplete = 0
        with warehouse.transaction() as conn:
            set_id = ensure_feature_set(conn, definition, FEATURES_CODE_VERSION)
            for symbol, dates in by_symbol.items():
                for tf in FEATURE_TIMEFRAMES:
                    bars = load_adjusted_bars(conn, ids[symbol], tf, dates[0], dates[-1], WARMUP_BARS)
                    if bars.empty:
                        write_feature_rows(conn, ids[symbol], tf, set_id, dates, bars, columns)
                        continue
                    feats = compute_features(bars)
                    feats["session_date"] = bars["session_date"].to_numpy()
                    rows = _in_dates(feats, dates)
                    written[tf] = written.get(tf, 0) + write_feature_rows(conn, ids[symbol], tf, set_id, dates,
                                                                          rows, columns)
                    incomplete += int((~rows["warmup_complete"]).sum())
        total = sum(written.values())
        return dg.MaterializeResult(
            metadata={
                "rows_by_timeframe": dg.MetadataValue.json(written),
                "feature_set_hash": definition.definition_hash()[:16],
                "feature_count": len(columns),
                "warmup_bars": WARMUP_BARS,
                "rows_without_full_warmup": incomplete,
                "dagster/row_count": total,
            },
            check_results=[dg.AssetCheckResult(
                check_name="warmup_complete", passed=incomplete == 0, severity=dg.AssetCheckSeverity.WARN,
                description=f"{incomplete} of {total} rows have less than {WARMUP_BARS} bars of history "
                            "(start of the symbol's history); they are marked, not dropped",
            )],
        )

    return feature_rows


def build_sr_levels(market: str) -> dg.AssetsDefinition:
    @dg.asset(**_common(market, "sr_levels"))
    def sr_levels(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Support and resistance per trading day (ml.sr_levels) from adjusted daily bars up to that
        day: pivot points, Fibonacci retracements of the 120-bar swing, zigzag swings, k-means price
        clusters, nearest support/resistance with distance % and touch-count strength (numpy: no
        TA-Lib equivalent)."""
        by_symbol, ids = _partitions(context, warehouse, market)
        written = 0
        with warehouse.transaction() as conn:
            for symbol, dates in by_symbol.items():
                bars = load_adjusted_bars(conn, ids[symbol], "d1", dates[0], dates[-1], SR_LOOKBACK)
                if bars.empty:
                    write_sr_levels(conn, ids[symbol], dates, bars)
                    continue
                levels = sr_levels_series(bars, SR_LOOKBACK)
                levels["session_date"] = bars["session_date"].to_numpy()
                written += write_sr_levels(conn, ids[symbol], dates, _in_dates(levels, dates))
        return dg.MaterializeResult(metadata={"rows_written": written, "lookback_bars": SR_LOOKBACK,
                                              "dagster/row_count": written})

    return sr_levels


def build_supertrend_signals(market: str) -> dg.AssetsDefinition:
    @dg.asset(**_common(market, "supertrend_signals"))
    def supertrend_signals_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource
                                 ) -> dg.MaterializeResult:
        """SuperTrend (10, 3) BUY/SELL flips on adjusted daily bars (ml.supertrend_signals) with entry,
        stop (the SuperTrend line), target (2R) and outcome WIN/LOSS/OPEN resolved with bars up to the
        partition's last day; later partitions resolve signals that were still OPEN."""
        by_symbol, ids = _partitions(context, warehouse, market)
        counts: dict[str, int] = {"WIN": 0, "LOSS": 0, "OPEN": 0}
        with warehouse.transaction() as conn:
            for symbol, dates in by_symbol.items():
                bars = load_adjusted_bars(conn, ids[symbol], "d1", dates[0], dates[-1], WARMUP_BARS)
                if bars.empty:
                    continue
                signals = supertrend_signals(bars)
                write_supertrend_signals(conn, ids[symbol], "d1", signals)
                for outcome, n in signals["outcome"].value_counts().items():
                    counts[str(outcome)] = counts.get(str(outcome), 0) + int(n)
        return dg.MaterializeResult(metadata={"signals_by_outcome": dg.MetadataValue.json(counts)})

    return supertrend_signals_asset


FEATURE_BUILDERS: tuple[Callable[[str], dg.AssetsDefinition], ...] = (
    build_feature_rows, build_sr_levels, build_supertrend_signals,
)
