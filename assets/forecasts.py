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
from functools import cache

import dagster as dg
import pandas as pd

from assets.partitions import DATE_DIM, SYMBOL_DIM, market_partitions, split_partition_keys
from resources import WarehouseResource
from swiftbolt.calendars import get_market
from swiftbolt.forecasts import pipeline
from swiftbolt.forecasts.metrics import markdown_table
from swiftbolt.forecasts.plots import markdown_image, model_report_png
from swiftbolt.settings import history_start

OWNERS = ["team:quant-research"]
FORECASTS_CODE_VERSION = "1"
MODEL_CRON = "0 1 * * 1"  # Monday 01:00 in the market's timezone: the week's sessions are over


@cache
def model_partitions(market: str) -> dg.TimeWindowPartitionsDefinition:
    """Weeks from Monday to Sunday in the market's timezone, from SWIFTBOLT_HISTORY_START."""
    return dg.WeeklyPartitionsDefinition(start_date=history_start().isoformat(), day_offset=1,
                                         timezone=get_market(market).timezone)


def model_automation(market: str) -> dg.AutomationCondition:
    """The latest complete week, once per week after its last session, whatever its upstreams did."""
    tz = get_market(market).timezone
    return (dg.AutomationCondition.in_latest_time_window()
            & dg.AutomationCondition.cron_tick_passed(MODEL_CRON, tz).since_last_handled()
            & ~dg.AutomationCondition.in_progress()).with_label(f"weekly ({MODEL_CRON}, {tz})")


def _key(market: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([market, name])


def _bars_deps(market: str) -> list[dg.AssetKey]:
    keys = [_key(market, "ohlc_bars")]
    if market == "us_equity":
        keys.append(_key(market, "corporate_actions"))
    return keys


def build_forecast_models(market: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=[market, "forecast_models"], partitions_def=model_partitions(market),
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[_key(market, "feature_rows"), *_bars_deps(market)],
        group_name=f"{market}_forecasts", kinds={"lightgbm", "postgres", "python"}, owners=OWNERS,
        code_version=FORECASTS_CODE_VERSION, automation_condition=model_automation(market),
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
                report = pipeline.train_models(conn, market, train_end, run_id=context.run_id, partition_key=week)
            by_week[week] = report
            context.add_asset_metadata(_model_metadata(report, brief=True), partition_key=week)
            context.log.info(f"{market} week {week}: train_end {report.train_end}, {len(report.models)} models "
                             f"in {report.seconds:.1f}s, reasons {report.reasons}")
        last = by_week[weeks[-1]]
        return dg.MaterializeResult(
            metadata={**_model_metadata(last, brief=False), "weeks_trained": len(weeks)},
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

def _forecast_asset(market: str, name: str, deps: list[dg.AssetDep | dg.AssetKey], kinds: set[str]) -> dict:
    return dict(
        key=[market, name], partitions_def=market_partitions(market), backfill_policy=dg.BackfillPolicy.single_run(),
        deps=deps, group_name=f"{market}_forecasts", kinds=kinds, owners=OWNERS, code_version=FORECASTS_CODE_VERSION,
    )


def _partition_keys(context: dg.AssetExecutionContext) -> dict[tuple[str, dt.date], str]:
    out = {}
    for key in context.partition_keys:
        dims = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else dict(
            zip((DATE_DIM, SYMBOL_DIM), key.split("|"), strict=True))
        out[(dims[SYMBOL_DIM], dt.date.fromisoformat(dims[DATE_DIM]))] = str(key)
    return out


def _report_result(context: dg.AssetExecutionContext, report: pipeline.ForecastReport) -> dg.MaterializeResult:
    keys = _partition_keys(context)
    for p in report.partitions:
        meta: dict[str, object] = {"rows": p.rows, "labels": dg.MetadataValue.json(p.labels)}
        if p.reason:
            meta["no_forecast_reason"] = p.reason
        if p.notes:
            meta["missing_horizons"] = dg.MetadataValue.json(p.notes)
        context.add_asset_metadata(meta, partition_key=keys[(p.symbol, p.date)])
    reasons = report.reasons()
    if reasons:
        context.log.warning(f"{len(report.skipped)} partitions without a forecast: {reasons}")
    preview = report.preview.copy()
    metadata: dict[str, object] = {
        "dagster/row_count": report.rows_written,
        "points_written": report.points_written,
        "partitions": len(report.partitions),
        "partitions_without_forecast": len(report.skipped),
        "reasons": dg.MetadataValue.json(reasons),
        "labels": dg.MetadataValue.json(report.label_counts()),
        "model_versions": dg.MetadataValue.json({h: [v[:16] for v in vs] for h, vs in report.model_versions.items()}),
        "seconds": round(report.seconds, 3),
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False) if not preview.empty else "no rows"),
    }
    if report.weights_sources:
        metadata["weights_sources"] = dg.MetadataValue.json(report.weights_sources)
    return dg.MaterializeResult(metadata=metadata)


def build_lgbm_forecasts(market: str) -> dg.AssetsDefinition:
    deps: list[dg.AssetDep | dg.AssetKey] = [
        _key(market, "feature_rows"),
        dg.AssetDep(_key(market, "forecast_models"), partition_mapping=dg.LastPartitionMapping()),
    ]

    @dg.asset(**_forecast_asset(market, "lgbm_forecasts", deps, {"lightgbm", "postgres", "python"}))
    def lgbm_forecasts(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """LightGBM forecasts (ml.ml_forecasts, model_type 'lightgbm', with ml.forecast_points) of day D for
        1D/5D/10D/20D: the newest stored model of each horizon whose training ended before D, applied to D's
        d1 feature row; median and 80% interval of the h-session log return, scaled by the symbol's
        volatility; label against a neutral band of 0.1 sigma sqrt(h); confidence = probability of the stated
        direction. A symbol with fewer than 60 sessions, no feature row or no model gets a reason, no row."""
        with warehouse.transaction() as conn:
            report = pipeline.lgbm_forecasts(conn, market, split_partition_keys(list(context.partition_keys)),
                                             run_id=context.run_id)
        return _report_result(context, report)

    return lgbm_forecasts


def build_prophet_forecasts(market: str) -> dg.AssetsDefinition:
    @dg.asset(**_forecast_asset(market, "prophet_forecasts", list(_bars_deps(market)), {"prophet", "postgres",
                                                                                         "python"}))
    def prophet_forecasts(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Prophet forecasts (ml.ml_forecasts, model_type 'prophet', with the path to the horizon in
        ml.forecast_points) of day D: one fit per symbol on log adjusted closes of the last
        SWIFTBOLT_PROPHET_LOOKBACK sessions up to D, on the market's session axis (h sessions ahead, not h
        calendar days; crypto every day), trend with changepoints, 80% interval. Fits run in
        SWIFTBOLT_PROPHET_PROCESSES processes."""
        with warehouse.transaction() as conn:
            report = pipeline.prophet_forecasts(conn, market, split_partition_keys(list(context.partition_keys)),
                                                run_id=context.run_id)
        return _report_result(context, report)

    return prophet_forecasts


def build_ml_forecasts(market: str) -> dg.AssetsDefinition:
    deps: list[dg.AssetDep | dg.AssetKey] = [_key(market, n) for n in ("lgbm_forecasts", "prophet_forecasts",
                                                                        "feature_rows", "sr_levels")]

    @dg.asset(**_forecast_asset(market, "ml_forecasts", deps, {"postgres", "python"}))
    def ml_forecasts(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """The ensemble forecast of day D (ml.ml_forecasts, model_type 'ensemble'): quantile average of the
        LightGBM and Prophet forecasts of D with the weights of ml.model_weights as of the newest as_of_date
        before D (the symbol's, else the market's; equal weights recorded as 'equal_no_weights' while none
        exist). The row keeps the base predictions and weights used, and D's SuperTrend state and nearest
        support/resistance."""
        with warehouse.transaction() as conn:
            report = pipeline.ensemble_forecasts(conn, market, split_partition_keys(list(context.partition_keys)),
                                                 run_id=context.run_id)
        return _report_result(context, report)

    return ml_forecasts


def build_model_automation_sensor(markets: list[str]) -> dg.AutomationConditionSensorDefinition:
    """Evaluates the weekly condition of every market's forecast_models (Dagster's default automation
    sensor starts stopped; this one runs by default so the weekly retrain needs no click)."""
    return dg.AutomationConditionSensorDefinition(
        "forecast_models_automation_sensor",
        target=dg.AssetSelection.assets(*[_key(m, "forecast_models") for m in markets]),
        default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=300,
        description="Requests the latest complete week of <market>/forecast_models once per week, after "
                    f"{MODEL_CRON} in the market's timezone (the weekly retrain).",
    )


def build_forecast_assets(market: str) -> list[dg.AssetsDefinition]:
    """Every forecast asset of a market, in dependency order."""
    return [build_forecast_models(market), build_lgbm_forecasts(market), build_prophet_forecasts(market),
            build_ml_forecasts(market)]
