"""Forecast assets per market: forecast_models (weekly), lgbm_forecasts, prophet_forecasts and
ml_forecasts (trading day x symbol). Thin wiring around swiftbolt.forecasts.pipeline.

Cadence of forecast_models: weekly partitions (Monday to Sunday in the market's timezone). Partition W
trains with training end T = the last session of W, so it can run once W is over (Monday 01:00, before
the next session): a weekly retrain keeps the model within five sessions of the newest realised labels,
while a pooled model over ~1000 sessions barely moves from one day to the next, and a daily retrain
would multiply the training cost by five for no measured gain. Backfilling weeks is one run
(single-run policy). Forecasts of day D use the newest model whose training ended before D, looked up in
ml.ml_model_versions (the data decides, not a partition mapping): the dependency edge to forecast_models
is "the latest model" (LastPartitionMapping), which is the one the after-close run uses.
"""

import datetime as dt
from collections.abc import Callable
from functools import cache

import dagster as dg
import pandas as pd

from assets import keys, teams
from assets.metadata import add_partition_metadata, table_metadata, writes_tables
from assets.partitions import DATE_DIM, market_partitions, market_tags, partition_symbols
from resources import WarehouseResource
from swiftbolt.code_version import source_version
from swiftbolt.evaluations import calibration
from swiftbolt.forecasts import (
    dataset,
    ensemble,
    horizons,
    labels,
    lightgbm_models,
    pipeline,
    prophet_models,
    store,
)
from swiftbolt.forecasts.metrics import markdown_table
from swiftbolt.forecasts.plots import markdown_image, model_report_png
from swiftbolt.markets import Market
from swiftbolt.settings import history_start

OWNERS = teams.QUANT_RESEARCH
MODELS_CODE_VERSION = source_version(dataset, lightgbm_models, horizons, store, pipeline)
LGBM_CODE_VERSION = source_version(dataset, lightgbm_models, labels, horizons, store, pipeline)
PROPHET_CODE_VERSION = source_version(prophet_models, labels, horizons, store, pipeline)
ENSEMBLE_CODE_VERSION = source_version(ensemble, labels, horizons, store, pipeline, calibration)
MODEL_CRON = "0 1 * * 1"  # Monday 01:00 in the market's timezone: the week's sessions are over


@cache
def model_partitions(market: Market) -> dg.TimeWindowPartitionsDefinition:
    """Weeks from Monday to Sunday in the market's timezone, from SWIFTBOLT_HISTORY_START."""
    return dg.WeeklyPartitionsDefinition(start_date=history_start().isoformat(), day_offset=1,
                                         timezone=market.timezone)


def model_automation(market: Market) -> dg.AutomationCondition:
    """The latest complete week, once per week after its last session, whatever its upstreams did."""
    tz = market.timezone
    return (dg.AutomationCondition.in_latest_time_window()
            & dg.AutomationCondition.cron_tick_passed(MODEL_CRON, tz).since_last_handled()
            & ~dg.AutomationCondition.in_progress()).with_label(f"weekly ({MODEL_CRON}, {tz})")


def _bars_deps(market: Market) -> list[dg.AssetKey]:
    upstream = [keys.ohlc_bars(market)]
    if market.has_corporate_actions:
        upstream.append(keys.corporate_actions(market))
    return upstream


def build_forecast_models(market: Market) -> dg.AssetsDefinition:
    @dg.asset(
        key=keys.forecast_models(market), partitions_def=model_partitions(market),
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[keys.feature_rows(market), *_bars_deps(market)],
        group_name=f"{market.code}_forecasts", kinds={"lightgbm", "postgres", "python"}, owners=OWNERS,
        code_version=MODELS_CODE_VERSION, automation_condition=model_automation(market),
        tags=market_tags(market, per_partition=False),
        metadata=writes_tables("ml.ml_model_versions", "ml.training_runs"),
    )
    def forecast_models(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Pooled quantile LightGBM models (0.1/0.5/0.9) of the market, one per horizon (1D, 5D, 10D, 20D
        sessions), trained on the d1 feature rows of every active symbol (scale-free features plus 60-session
        volatility; target the forward h-session log return of the adjusted close over sigma*sqrt(h)).
        Partition = week W, training end T = W's last session; samples dated up to T - h sessions only
        (purged gap = horizon), window SWIFTBOLT_FORECAST_TRAIN_SESSIONS. Stored in ml.ml_model_versions
        (LightGBM text, SHA-256) with the run in ml.training_runs; the data version is the models' hash.
        Metadata: out-of-sample figures of the window's last sessions beside the naive baselines, top
        feature importances (table and plot)."""
        weeks = sorted(context.partition_keys)
        by_week: dict[str, pipeline.TrainingReport] = {}
        for week in weeks:
            window = model_partitions(market).time_window_for_partition_key(week)
            train_end = (window.end - dt.timedelta(days=1)).date()
            with warehouse.transaction() as conn:
                report = pipeline.train_models(conn, market.code, train_end, run_id=context.run_id,
                                               partition_key=week)
            by_week[week] = report
            context.add_asset_metadata(_model_metadata(report, brief=True), partition_key=week)
            context.log.info(f"{market.code} week {week}: train_end {report.train_end}, {len(report.models)} models "
                             f"in {report.seconds:.1f}s, reasons {report.reasons}")
        last = by_week[weeks[-1]]
        with warehouse.connection() as conn:
            table = table_metadata(conn, "ml.ml_model_versions")
        return dg.MaterializeResult(
            metadata={**table, **_model_metadata(last, brief=False), "weeks_trained": len(weeks)},
            data_version=dg.DataVersion(last.data_version) if len(weeks) == 1 else None,
        )

    return forecast_models


def _model_metadata(report: pipeline.TrainingReport, brief: bool) -> dict[str, object]:
    models = pd.DataFrame([{"horizon": m.horizon, "sha256": m.sha256[:16], "samples": m.n_samples,
                            "symbols": m.n_symbols, "first_sample": str(m.train_start),
                            "last_sample": str(m.last_sample_date)} for m in report.models])
    meta: dict[str, object] = {
        "train_end": str(report.train_end) if report.train_end else "none",
        "model_hash": report.data_version,
        "models": dg.MetadataValue.md(markdown_table(models) if not models.empty else "no model"),
        "reasons": dg.MetadataValue.json(report.reasons),
        "dagster/row_count": len(report.models),
    }
    if brief or not report.models:
        return meta
    figures = report.figures
    importance = {m.horizon: m.importance for m in report.models}
    top = pd.DataFrame({h: [f"{n} {v:.3f}" for n, v in imp[:10]] + [""] * (10 - len(imp[:10]))
                        for h, imp in importance.items()})
    top.insert(0, "rank", range(1, 11))
    shown = report.models[0] if len(report.models) == 1 else next(
        (m for m in report.models if m.horizon == "5D"), report.models[0])
    png = model_report_png(figures, shown.importance[:12], f"{report.market} models, training end {report.train_end}"
                           f" (importances: {shown.horizon})")
    meta.update({
        "oos_figures": dg.MetadataValue.md(
            "Out-of-sample (last sessions of the window, purged gap = horizon), beside the naive baselines. "
            "Hit rate = sign of the median vs the realised sign; IC = Pearson per symbol over days; rank_ic = "
            "Spearman across symbols per day; coverage of the 80% interval.\n\n" + markdown_table(figures)),
        "top_features": dg.MetadataValue.md(markdown_table(top)),
        "plot": dg.MetadataValue.md(markdown_image(png, "hit rate vs baselines and feature importances")),
    })
    return meta


# ------------------------------------------------------------------------------ day x symbol forecasts

def _forecast_asset(market: Market, name: str, deps: list[dg.AssetDep | dg.AssetKey], kinds: set[str],
                    code_version: str) -> dict:
    return dict(
        key=keys.market_asset(market, name), partitions_def=market_partitions(market.code),
        backfill_policy=dg.BackfillPolicy.single_run(), deps=deps, group_name=f"{market.code}_forecasts",
        kinds=kinds, owners=OWNERS, code_version=code_version, tags=market_tags(market, per_partition=True),
        metadata=writes_tables("ml.ml_forecasts", "ml.forecast_points"),
    )


def _run_forecasts(context: dg.AssetExecutionContext, warehouse: WarehouseResource, market: Market,
                   forecast: Callable[..., pipeline.ForecastReport]) -> dg.MaterializeResult:
    """The body of every day x symbol forecast asset: the run's partitions, one transaction of the core's
    `forecast` (lgbm, prophet or ensemble), the report as metadata."""
    by_symbol, _ = partition_symbols(context, warehouse, market)
    with warehouse.transaction() as conn:
        report = forecast(conn, market.code, by_symbol, run_id=context.run_id)
    return _report_result(context, warehouse, report)


def _partition_figures(row) -> dict[str, object]:
    meta: dict[str, object] = {"dagster/row_count": row.rows, "labels": dg.MetadataValue.json(row.labels)}
    if row.reason:
        meta["no_forecast_reason"] = row.reason
    if row.notes:
        meta["missing_horizons"] = dg.MetadataValue.json(row.notes)
    return meta


def _report_result(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                   report: pipeline.ForecastReport) -> dg.MaterializeResult:
    partitions = pd.DataFrame([{"symbol": p.symbol, "session_date": p.date, "rows": p.rows, "labels": p.labels,
                                "reason": p.reason, "notes": p.notes} for p in report.partitions])
    if not partitions.empty:
        add_partition_metadata(context, partitions, _partition_figures)
    with warehouse.connection() as conn:
        table = table_metadata(conn, "ml.ml_forecasts")
    reasons = report.reasons()
    if reasons:
        context.log.warning(f"{len(report.skipped)} partitions without a forecast: {reasons}")
    preview = report.preview.copy()
    metadata: dict[str, object] = {
        **table,
        "run/rows_written": report.rows_written,
        "run/points_written": report.points_written,
        "run/partitions": len(report.partitions),
        "run/partitions_without_forecast": len(report.skipped),
        "run/reasons": dg.MetadataValue.json(reasons),
        "run/labels": dg.MetadataValue.json(report.label_counts()),
        "run/model_versions": dg.MetadataValue.json({h: [v[:16] for v in vs]
                                                     for h, vs in report.model_versions.items()}),
        "run/seconds": round(report.seconds, 3),
        "run/preview": dg.MetadataValue.md(preview.to_markdown(index=False) if not preview.empty else "no rows"),
    }
    if report.weights_sources:
        metadata["run/weights_sources"] = dg.MetadataValue.json(report.weights_sources)
    return dg.MaterializeResult(metadata=metadata)


def build_lgbm_forecasts(market: Market) -> dg.AssetsDefinition:
    deps: list[dg.AssetDep | dg.AssetKey] = [
        keys.feature_rows(market),
        dg.AssetDep(keys.forecast_models(market), partition_mapping=dg.LastPartitionMapping()),
    ]

    @dg.asset(**_forecast_asset(market, "lgbm_forecasts", deps, {"lightgbm", "postgres", "python"},
                                LGBM_CODE_VERSION))
    def lgbm_forecasts(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """LightGBM forecasts (ml.ml_forecasts, model_type 'lightgbm', with ml.forecast_points) of day D for
        1D/5D/10D/20D: the newest stored model of each horizon whose training ended before D, applied to D's
        d1 feature row; median and 80% interval of the h-session log return, scaled by the symbol's
        volatility; label against a neutral band of 0.1 sigma sqrt(h); confidence = probability of the stated
        direction. A symbol with fewer than 60 sessions, no feature row or no model gets a reason, no row."""
        return _run_forecasts(context, warehouse, market, pipeline.lgbm_forecasts)

    return lgbm_forecasts


def build_prophet_forecasts(market: Market) -> dg.AssetsDefinition:
    @dg.asset(**_forecast_asset(market, "prophet_forecasts", list(_bars_deps(market)),
                                {"prophet", "postgres", "python"}, PROPHET_CODE_VERSION))
    def prophet_forecasts(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Prophet forecasts (ml.ml_forecasts, model_type 'prophet', with the path to the horizon in
        ml.forecast_points) of day D: one fit per symbol on log adjusted closes of the last
        SWIFTBOLT_PROPHET_LOOKBACK sessions up to D, on the market's session axis (h sessions ahead, not h
        calendar days; crypto every day), trend with changepoints, 80% interval. Fits run in
        SWIFTBOLT_PROPHET_PROCESSES processes."""
        return _run_forecasts(context, warehouse, market, pipeline.prophet_forecasts)

    return prophet_forecasts


def build_ml_forecasts(market: Market) -> dg.AssetsDefinition:
    deps: list[dg.AssetDep | dg.AssetKey] = [keys.market_asset(market, n) for n in (
        "lgbm_forecasts", "prophet_forecasts", "feature_rows", "sr_levels")]
    # the weights and calibration of D-1, through ensemble_inputs [trading day] of D (assets/evaluations.py)
    deps.append(dg.AssetDep(keys.market_asset(market, "ensemble_inputs"),
                            partition_mapping=dg.MultiToSingleDimensionPartitionMapping(DATE_DIM)))

    @dg.asset(**_forecast_asset(market, "ml_forecasts", deps, {"postgres", "python"}, ENSEMBLE_CODE_VERSION))
    def ml_forecasts(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """The ensemble forecast of day D (ml.ml_forecasts, model_type 'ensemble'): quantile average of the
        LightGBM and Prophet forecasts of D with the weights of ml.model_weights as of the newest as_of_date
        before D, i.e. D-1 (the symbol's, else the market's; equal weights recorded as 'equal_no_weights'
        while none exist), and its confidence mapped through the ensemble's calibration curve as of the
        newest day before D (ml.ml_confidence_calibration; 'uncalibrated_no_calibration' while none). The
        row keeps the base predictions, weights, raw confidence and the dates of the weights and
        calibration used, and D's SuperTrend state and nearest support/resistance."""
        return _run_forecasts(context, warehouse, market, pipeline.ensemble_forecasts)

    return ml_forecasts


def build_assets(market: Market) -> list[dg.AssetsDefinition]:
    """The daily forecasting domain of one market, in dependency order."""
    return [build_forecast_models(market), build_lgbm_forecasts(market), build_prophet_forecasts(market),
            build_ml_forecasts(market)]
