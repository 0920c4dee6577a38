"""Feature assets per market (trading day x symbol), computed from split- and dividend-adjusted bars:
feature_rows (TA-Lib indicators + Alpha158-style features), sr_levels, supertrend_signals. The work is
in swiftbolt.features.pipeline; these bodies read the partitions, call it and turn its report into
metadata (per partition: its own rows; `run/...`: the run's)."""

import dagster as dg
import pandas as pd

from assets import keys, teams
from assets.freshness import FRESHNESS_CHECK_CRON, session_freshness, utc_now
from assets.metadata import (
    add_partition_metadata,
    counts_table,
    last_partition_per_symbol,
    line_plot,
    markdown_table,
    table_metadata,
    writes_tables,
)
from assets.partitions import market_partitions, market_tags, partition_symbols
from resources import WarehouseResource
from swiftbolt.code_version import source_version
from swiftbolt.features import feature_set, indicators, pipeline, sr_levels, store, supertrend_signals
from swiftbolt.features.indicators import WARMUP_BARS
from swiftbolt.features.pipeline import (
    FEATURE_TIMEFRAMES,
    KEY_INDICATORS,
    SR_LOOKBACK,
    compute_feature_rows,
    compute_sr_levels,
    compute_supertrend_signals,
)
from swiftbolt.markets import Market

OWNERS = teams.QUANT_RESEARCH
FEATURES_CODE_VERSION = source_version(indicators, feature_set, store, pipeline,
                                       params={"timeframes": FEATURE_TIMEFRAMES, "warmup_bars": WARMUP_BARS})


def _upstream(market: Market) -> list[dg.AssetKey]:
    upstream = [keys.ohlc_bars(market)]
    if market.has_corporate_actions:
        upstream.append(keys.corporate_actions(market))
    return upstream


def _common(market: Market, name: str, code_version: str, *tables: str) -> dict:
    return dict(
        key=keys.market_asset(market, name), partitions_def=market_partitions(market.code),
        backfill_policy=dg.BackfillPolicy.single_run(), deps=_upstream(market), group_name=f"{market.code}_features",
        kinds={"postgres", "python"}, owners=OWNERS, code_version=code_version,
        tags=market_tags(market, per_partition=True), metadata=writes_tables(*tables),
    )


def _indicator_plots(context: dg.AssetExecutionContext, daily: pd.DataFrame, partitions: pd.DataFrame) -> None:
    """Close and RSI over the run's days, on each symbol's newest partition of the run."""
    for row in last_partition_per_symbol(partitions).itertuples(index=False):
        mine = daily[daily["symbol"] == row.symbol].set_index("session_date").sort_index()
        if len(mine) < 2:
            continue
        rsi = next((k for k in KEY_INDICATORS if k.startswith("rsi_")), None)
        plots = {"close_plot": line_plot({"close (adjusted)": mine["close"]}, f"{row.symbol} adjusted close")}
        if rsi in mine:
            plots["rsi_plot"] = line_plot({rsi: mine[rsi]}, f"{row.symbol} {rsi}")
        add_partition_metadata(context, pd.DataFrame([row]), lambda _r, p=plots: p)


def build_feature_rows(market: Market) -> dg.AssetsDefinition:
    warmup_check = dg.AssetCheckSpec("warmup_complete", asset=keys.feature_rows(market),
                                     description="Rows without enough history for exact indicator values.")

    @dg.asset(**_common(market, "feature_rows", FEATURES_CODE_VERSION, "ml.feature_rows", "ml.feature_sets"),
              check_specs=[warmup_check])
    def feature_rows(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Feature rows (ml.feature_rows) for d1, h1 and m15 bars from adjusted prices: TA-Lib RSI, MACD,
        ADX, ATR, Bollinger, Stochastic, Williams %R, CCI, MFI, OBV slope; SuperTrend on TA-Lib's ATR
        (TA-Lib has no SuperTrend); returns, volatility, volume ratios, Alpha158-style candle and
        rolling features. Each partition loads 500 earlier bars of warm-up so its values equal a
        full-history computation; bars with less history are marked warmup_complete = false. Values
        of day D use bars up to D only. The definition's hash is recorded in ml.feature_sets."""
        by_symbol, ids = partition_symbols(context, warehouse, market)
        with warehouse.transaction() as conn:
            report = compute_feature_rows(conn, ids, by_symbol, FEATURES_CODE_VERSION)
            table = table_metadata(conn, "ml.feature_rows")
        daily = report.daily.set_index(["symbol", "session_date"]) if not report.daily.empty else None

        def figures(row) -> dict:
            md: dict = {
                "dagster/row_count": int(row.rows),
                "rows_by_timeframe": counts_table({tf: int(getattr(row, f"rows_{tf}")) for tf in FEATURE_TIMEFRAMES},
                                                  "timeframe"),
                "rows_without_full_warmup": int(row.rows_without_warmup),
            }
            key = (row.symbol, pd.Timestamp(row.session_date))
            if daily is not None and key in daily.index:
                values = daily.loc[key]
                md.update({f"d1/{k}": float(values[k]) for k in ("close", *KEY_INDICATORS)
                           if k in values and pd.notna(values[k])})
            return md

        add_partition_metadata(context, report.partitions, figures)
        _indicator_plots(context, report.daily, report.partitions)
        incomplete, total = report.rows_without_warmup, report.rows_written
        return dg.MaterializeResult(
            metadata={
                **table,
                "feature_set_hash": report.feature_set_hash[:16],
                "feature_count": report.feature_count,
                "warmup_bars": WARMUP_BARS,
                "run/rows_written": total,
                "run/rows_without_full_warmup": incomplete,
                "run/partitions": len(report.partitions),
            },
            check_results=[dg.AssetCheckResult(
                check_name="warmup_complete", passed=incomplete == 0, severity=dg.AssetCheckSeverity.WARN,
                description=f"{incomplete} of {total} rows have less than {WARMUP_BARS} bars of history "
                            "(start of the symbol's history); they are marked, not dropped",
                metadata={"rows_by_symbol": markdown_table(
                    report.partitions.groupby("symbol", as_index=False)[["rows", "rows_without_warmup"]].sum())},
            )],
        )

    return feature_rows


def build_sr_levels(market: Market) -> dg.AssetsDefinition:
    version = source_version(sr_levels, store, pipeline, params={"lookback": SR_LOOKBACK})

    @dg.asset(**_common(market, "sr_levels", version, "ml.sr_levels"))
    def sr_levels_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Support and resistance per trading day (ml.sr_levels) from adjusted daily bars up to that
        day: pivot points, Fibonacci retracements of the 120-bar swing, zigzag swings, k-means price
        clusters, nearest support/resistance with distance % and touch-count strength (numpy: no
        TA-Lib equivalent)."""
        by_symbol, ids = partition_symbols(context, warehouse, market)
        with warehouse.transaction() as conn:
            report = compute_sr_levels(conn, ids, by_symbol)
            table = table_metadata(conn, "ml.sr_levels")
        add_partition_metadata(context, report.partitions, lambda r: {
            "dagster/row_count": int(r.rows),
            **{k: float(getattr(r, k)) for k in ("close", "nearest_support", "nearest_resistance")
               if pd.notna(getattr(r, k))},
        })
        return dg.MaterializeResult(metadata={**table, "lookback_bars": SR_LOOKBACK,
                                              "run/rows_written": report.rows_written})

    return sr_levels_asset


def build_supertrend_signals(market: Market) -> dg.AssetsDefinition:
    version = source_version(supertrend_signals, store, pipeline)

    @dg.asset(**_common(market, "supertrend_signals", version, "ml.supertrend_signals"))
    def supertrend_signals_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource
                                 ) -> dg.MaterializeResult:
        """SuperTrend (10, 3) BUY/SELL flips on adjusted daily bars (ml.supertrend_signals) with entry,
        stop (the SuperTrend line), target (2R) and outcome WIN/LOSS/OPEN resolved with bars up to the
        partition's last day; later partitions resolve signals that were still OPEN."""
        by_symbol, ids = partition_symbols(context, warehouse, market)
        with warehouse.transaction() as conn:
            report = compute_supertrend_signals(conn, ids, by_symbol)
            table = table_metadata(conn, "ml.supertrend_signals")
        add_partition_metadata(context, report.partitions, lambda r: {"signals_on_day": int(r.signals)})
        return dg.MaterializeResult(metadata={
            **table, "run/signals_by_outcome": counts_table(report.by_outcome, "outcome", "signals"),
        })

    return supertrend_signals_asset


def build_features_freshness_check(market: Market) -> dg.AssetChecksDefinition:
    """Freshness counted in trading sessions, from Dagster's own materialization status."""

    @dg.asset_check(
        asset=keys.feature_rows(market), name="features_fresh", blocking=False,
        automation_condition=dg.AutomationCondition.cron_tick_passed(FRESHNESS_CHECK_CRON),
    )
    def features_fresh(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        """Every scheduled symbol's partition of the latest session whose deadline (close + after-close
        buffer + 60 min) has passed is materialized: stale means sessions behind, not hours. Evaluated every
        30 minutes by the automation condition sensor."""
        return session_freshness(context.instance, market, keys.feature_rows(market), utc_now())

    return features_fresh


def build_assets(market: Market) -> list[dg.AssetsDefinition | dg.AssetChecksDefinition]:
    """The features domain of one market."""
    return [build_feature_rows(market), build_sr_levels(market), build_supertrend_signals(market),
            build_features_freshness_check(market)]
