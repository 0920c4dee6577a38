"""Intraday forecast assets per market: intraday_forecast_models (weekly, like forecast_models),
intraday_forecasts and intraday_forecast_evaluations (trading day x symbol). Thin wiring around
swiftbolt.forecasts.intraday.

The intraday job runs bars, feature rows, forecasts and evaluations every 15 minutes while the market is
open: a live tick (run tag swiftbolt/run_kind = intraday) forecasts at the newest ended m15 bar only, so
partition D accumulates the day's forecasts tick by tick and a re-run of a tick replaces exactly its rows.
Any other run (the after-close run, a backfill) forecasts at every ended bar of the day, filling ticks
the schedule missed; rows of ticks that ran are rewritten with the same values (same bars, same model).
"""

import datetime as dt

import dagster as dg
import pandas as pd

from assets import keys, teams
from assets.forecasts import model_automation, model_partitions
from assets.metadata import add_partition_metadata, table_metadata, writes_tables
from assets.partitions import RUN_KIND_TAG, market_partitions, market_tags, partition_symbols
from resources import WarehouseResource
from swiftbolt import clock
from swiftbolt.code_version import source_version
from swiftbolt.forecasts import intraday, intraday_dataset, intraday_store, labels, lightgbm_models, paths, store
from swiftbolt.forecasts.metrics import markdown_table
from swiftbolt.markets import Market

OWNERS = teams.QUANT_RESEARCH
CODE_VERSION = source_version(intraday, intraday_dataset, intraday_store, labels, lightgbm_models, paths, store)
LIVE_TICK = "intraday"


def build_intraday_forecast_models(market: Market) -> dg.AssetsDefinition:
    @dg.asset(
        key=keys.market_asset(market, "intraday_forecast_models"), partitions_def=model_partitions(market),
        backfill_policy=dg.BackfillPolicy.single_run(), deps=[keys.feature_rows(market), keys.ohlc_bars(market)],
        group_name=f"{market.code}_intraday_forecasts", kinds={"lightgbm", "postgres", "python"}, owners=OWNERS,
        code_version=CODE_VERSION, automation_condition=model_automation(market),
        tags=market_tags(market, per_partition=False),
        metadata=writes_tables("ml.ml_model_versions", "ml.training_runs"),
    )
    def intraday_forecast_models(context: dg.AssetExecutionContext,
                                 warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Pooled quantile LightGBM models (0.1/0.5/0.9) for the intraday horizons 15m (next m15 bar) and 1h
        (four m15 bars), trained weekly on the m15 feature rows plus the last ended h1 row of every active
        symbol over the last SWIFTBOLT_INTRADAY_TRAIN_SESSIONS sessions up to the week's last session T; a
        sample's label bar has ended by T's close (purged gap = horizon). Stored in ml.ml_model_versions
        beside the daily models. Metadata: out-of-sample figures beside persistence and zero return."""
        last = None
        for week in sorted(context.partition_keys):
            window = model_partitions(market).time_window_for_partition_key(week)
            with warehouse.transaction() as conn:
                last = intraday.train_intraday_models(conn, market.code, window.end.date() - dt.timedelta(days=1),
                                                      run_id=context.run_id, partition_key=week)
            context.add_asset_metadata({"train_end": str(last.train_end), "model_hash": last.data_version[:64]},
                                       partition_key=week)
        assert last is not None
        with warehouse.connection() as conn:
            table = table_metadata(conn, "ml.ml_model_versions")
        return dg.MaterializeResult(metadata={
            **table, "dagster/row_count": len(last.models), "train_end": str(last.train_end),
            "models": dg.MetadataValue.json({h: {"sha256": v[1][:16], "samples": v[2]}
                                             for h, v in last.models.items()}),
            "reasons": dg.MetadataValue.json(last.reasons),
            "oos_figures": dg.MetadataValue.md(markdown_table(last.figures) if not last.figures.empty else "none"),
            "seconds": round(last.seconds, 2)})

    return intraday_forecast_models


def _partition_figures(row) -> dict[str, object]:
    meta: dict[str, object] = {"dagster/row_count": row.rows, "labels": dg.MetadataValue.json(row.labels)}
    if row.reason:
        meta["no_rows_reason"] = row.reason
    return meta


def _result(context: dg.AssetExecutionContext, warehouse: WarehouseResource, report: intraday.IntradayReport,
            table: str, extra: dict[str, object]) -> dg.MaterializeResult:
    parts = pd.DataFrame([{"symbol": p.symbol, "session_date": p.date, "rows": p.rows, "labels": p.labels,
                           "reason": p.reason} for p in report.partitions])
    if not parts.empty:
        add_partition_metadata(context, parts, _partition_figures)
    with warehouse.connection() as conn:
        meta = table_metadata(conn, table)
    preview = report.preview
    return dg.MaterializeResult(metadata={
        **meta, **extra, "run/rows_written": report.rows_written, "run/partitions": len(report.partitions),
        "run/reasons": dg.MetadataValue.json(report.reasons()), "run/seconds": round(report.seconds, 3),
        "run/preview": dg.MetadataValue.md(preview.to_markdown(index=False) if not preview.empty else "no rows")})


def build_intraday_forecasts(market: Market) -> dg.AssetsDefinition:
    deps: list[dg.AssetDep | dg.AssetKey] = [
        # sr_levels is read for the previous session only (known at D's open): no same-day edge to it
        keys.ohlc_bars(market), keys.feature_rows(market),
        dg.AssetDep(keys.market_asset(market, "intraday_forecast_models"),
                    partition_mapping=dg.LastPartitionMapping()),
    ]

    @dg.asset(
        key=keys.market_asset(market, "intraday_forecasts"), partitions_def=market_partitions(market.code),
        backfill_policy=dg.BackfillPolicy.single_run(), deps=deps, group_name=f"{market.code}_intraday_forecasts",
        kinds={"lightgbm", "postgres", "python"}, owners=OWNERS, code_version=CODE_VERSION,
        tags=market_tags(market, per_partition=True),
        metadata=writes_tables("ml.ml_forecasts_intraday", "ml.ml_forecast_paths_intraday"),
    )
    def intraday_forecasts(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Intraday forecasts of day D (ml.ml_forecasts_intraday, paths in ml.ml_forecast_paths_intraday):
        for 15m and 1h ahead, at the end of each m15 bar, from the bar's m15 feature row and the last ended
        h1 row, with the newest intraday model trained before D: median and 80% interval, label against a
        neutral band of 0.1 sigma sqrt(k), confidence, target price, a path of one point per m15 step,
        expires_at, the SuperTrend layer (m15) and the S/R layer (the previous session's levels). A live
        tick forecasts at the newest ended bar; other runs at every ended bar of D (see the module)."""
        by_symbol, _ = partition_symbols(context, warehouse, market)
        live = context.run.tags.get(RUN_KIND_TAG) == LIVE_TICK
        with warehouse.transaction() as conn:
            report = intraday.intraday_forecasts(conn, market.code, by_symbol, clock.utc_now(), latest_only=live,
                                                 run_id=context.run_id)
        return _result(context, warehouse, report, "ml.ml_forecasts_intraday", {
            "run/mode": "live tick: newest ended bar" if live else "every ended bar of the day",
            "run/points_written": report.points_written,
            "run/model_seconds": round(report.model_seconds, 4),
            "run/model_versions": dg.MetadataValue.json({h: sorted({v[:16] for v in vs})
                                                         for h, vs in report.model_versions.items()})})

    return intraday_forecasts


def build_intraday_forecast_evaluations(market: Market) -> dg.AssetsDefinition:
    @dg.asset(
        key=keys.market_asset(market, "intraday_forecast_evaluations"),
        partitions_def=market_partitions(market.code), backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[keys.market_asset(market, "intraday_forecasts"), keys.ohlc_bars(market)],
        group_name=f"{market.code}_intraday_forecasts", kinds={"postgres", "python"}, owners=OWNERS,
        code_version=CODE_VERSION, tags=market_tags(market, per_partition=True),
        metadata=writes_tables("ml.ml_forecast_evaluations_intraday"),
    )
    def intraday_forecast_evaluations(context: dg.AssetExecutionContext,
                                      warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Evaluations (ml.ml_forecast_evaluations_intraday) of the intraday forecasts whose horizon ended in
        session D by now: realised price and return, direction, inside the interval, whether the realised
        path stayed inside the band, and the SuperTrend, S/R and model layers' own correctness. A forecast
        whose horizon bar has not ended (or is missing) is not evaluated. Metadata: the figures of the run's
        evaluations beside persistence and zero return."""
        by_symbol, _ = partition_symbols(context, warehouse, market)
        with warehouse.transaction() as conn:
            report = intraday.evaluate_intraday(conn, market.code, by_symbol, clock.utc_now(), run_id=context.run_id)
        figures = report.figures
        return _result(context, warehouse, report, "ml.ml_forecast_evaluations_intraday", {
            "run/figures": dg.MetadataValue.md(markdown_table(figures) if not figures.empty else "no evaluations")})

    return intraday_forecast_evaluations


def build_assets(market: Market) -> list[dg.AssetsDefinition]:
    """The intraday forecasting domain of one market."""
    return [build_intraday_forecast_models(market), build_intraday_forecasts(market),
            build_intraday_forecast_evaluations(market)]
