"""Evaluation assets per market: forecast_evaluations and ensemble_evaluations [trading day x symbol],
model_weights, confidence_calibration, model_performance and ensemble_inputs [trading day], with the
monitoring checks. Thin wiring around swiftbolt.evaluations.pipeline.

The feedback loop is acyclic at the asset level:

    lgbm_forecasts, prophet_forecasts -> forecast_evaluations -> model_weights, confidence_calibration
        -> ensemble_inputs (day D reads both of D-1) -> ml_forecasts -> ensemble_evaluations -> model_performance

Dagster maps a trading-day asset to a trading-day x symbol asset only on the same day
(MultiToSingleDimensionPartitionMapping); a shift by one session is a TimeWindowPartitionMapping between two
trading-day assets. So the D-1 step is the edge model_weights/confidence_calibration (D-1) -> ensemble_inputs
(D), and ensemble_inputs (D) -> ml_forecasts (D, every symbol). The ensemble's own evaluations are a
separate asset downstream of ml_forecasts: evaluating them in forecast_evaluations would close a cycle.
"""


import datetime as dt
from functools import cache

import dagster as dg
import numpy as np
import pandas as pd

from assets import keys, teams
from assets.metadata import add_partition_metadata, markdown_table, table_metadata, writes_tables
from assets.partitions import (
    DATE_DIM,
    SYMBOL_DIM,
    market_partitions,
    market_tags,
    partition_symbols,
    trading_day_partitions,
)
from resources import WarehouseResource
from swiftbolt import alerts
from swiftbolt.calendars import timing
from swiftbolt.clock import utc_now
from swiftbolt.code_version import source_version
from swiftbolt.evaluations import calibration, drift, evaluate, performance, pipeline, store, weights
from swiftbolt.forecasts import ensemble as forecast_ensemble
from swiftbolt.forecasts import intraday_dataset
from swiftbolt.forecasts.dataset import current_feature_set, load_feature_rows
from swiftbolt.forecasts.ensemble import BASE_MODELS
from swiftbolt.forecasts.horizons import HORIZONS, MAX_HORIZON
from swiftbolt.forecasts.metrics import Z95
from swiftbolt.forecasts.plots import hit_rates_png, markdown_image, reliability_png
from swiftbolt.markets import Market

OWNERS = teams.QUANT_RESEARCH
EVALUATIONS_CODE_VERSION = source_version(evaluate, store, pipeline)
WEIGHTS_CODE_VERSION = source_version(weights, forecast_ensemble, store, pipeline)
CALIBRATION_CODE_VERSION = source_version(calibration, forecast_ensemble, store, pipeline)
PERFORMANCE_CODE_VERSION = source_version(performance, store, pipeline)
INTRADAY_PERFORMANCE_CODE_VERSION = source_version(performance, store, pipeline, intraday_dataset)

ECE_THRESHOLD = 0.10
"""Calibration drift: the ensemble's raw ECE over the calibration window above this. With >= 250 outcomes
in 10 buckets, a calibrated forecaster's ECE is about 0.03-0.05 by sampling noise alone; 0.10 is twice that."""
DAILY_HORIZONS = tuple(HORIZONS)
FEATURE_PSI_ALERT = drift.PSI_ALERT
FEATURE_DRIFT_SESSIONS = 20
FEATURE_DRIFT_TOP = 5


def _group(market: Market) -> str:
    return f"{market.code}_evaluations"


@cache
def _window_mapping(offset: int) -> dg.MultiPartitionMapping:
    """(D, symbol) -> the same symbol on sessions D-offset..D-1 (the forecasts whose horizon may end at D)."""
    return dg.MultiPartitionMapping({
        DATE_DIM: dg.DimensionPartitionMapping(DATE_DIM, dg.TimeWindowPartitionMapping(start_offset=-offset,
                                                                                       end_offset=-1)),
        SYMBOL_DIM: dg.DimensionPartitionMapping(SYMBOL_DIM, dg.IdentityPartitionMapping()),
    })


SAME_DAY = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name=DATE_DIM)
PREVIOUS_SESSION = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)


def evaluation_condition(bars: list[dg.AssetKey]) -> dg.AutomationCondition:
    """Re-evaluate the latest session when a forecast it evaluates is re-made. The first evaluation of a
    session runs in the after-close daily job (its horizon has realized once the session has closed; an
    intraday refresh of the bars must not trigger it, so the bars only gate: no daily bar, no outcome)."""
    return (dg.AutomationCondition.in_latest_time_window()
            & dg.AutomationCondition.any_deps_updated().ignore(dg.AssetSelection.assets(*bars))
            .since_last_handled()
            & ~dg.AutomationCondition.any_deps_in_progress()
            & ~dg.AutomationCondition.in_progress()).with_label("a forecast it evaluates was re-made")


def _bars(market: Market) -> list[dg.AssetKey]:
    upstream = [keys.ohlc_bars(market)]
    if market.has_corporate_actions:
        upstream.append(keys.corporate_actions(market))
    return upstream


def _evaluation_asset(market: Market, name: str, forecasts: list[str], model_types: tuple[str, ...],
                      doc: str) -> dg.AssetsDefinition:
    deps = [*_bars(market), *(dg.AssetDep(keys.market_asset(market, f), partition_mapping=_window_mapping(MAX_HORIZON))
                              for f in forecasts)]

    @dg.asset(
        key=keys.market_asset(market, name), partitions_def=market_partitions(market.code),
        backfill_policy=dg.BackfillPolicy.single_run(), deps=deps, group_name=_group(market),
        kinds={"postgres", "python"}, owners=OWNERS, code_version=EVALUATIONS_CODE_VERSION,
        tags=market_tags(market, per_partition=True), automation_condition=evaluation_condition(_bars(market)),
        metadata=writes_tables("ml.forecast_evaluations"), description=doc,
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        by_symbol, _ = partition_symbols(context, warehouse, market)
        with warehouse.transaction() as conn:
            report = pipeline.evaluate_forecasts(conn, market.code, by_symbol, model_types, run_id=context.run_id)
        parts = pd.DataFrame([{"symbol": s, "session_date": d, **v} for (s, d), v in report.partitions.items()])
        if not parts.empty:
            add_partition_metadata(context, parts, _evaluation_figures)
        with warehouse.connection() as conn:
            table = table_metadata(conn, "ml.forecast_evaluations")
        reasons = parts["reason"].value_counts().to_dict() if "reason" in parts else {}
        return dg.MaterializeResult(metadata={
            **table, "run/rows_written": report.rows_written, "run/partitions": len(report.partitions),
            "run/reasons": dg.MetadataValue.json({str(k): int(v) for k, v in reasons.items()}),
            "run/seconds": round(report.seconds, 3),
            "run/preview": markdown_table(report.preview),
        })

    return _asset


def _evaluation_figures(row) -> dict[str, object]:
    meta: dict[str, object] = {"dagster/row_count": int(row.rows)}
    if isinstance(getattr(row, "reason", None), str):
        meta["no_evaluation_reason"] = row.reason
    if np.isfinite(getattr(row, "direction_correct", np.nan)):
        meta["direction_correct"] = float(row.direction_correct)
    return meta


def build_forecast_evaluations(market: Market) -> dg.AssetsDefinition:
    return _evaluation_asset(
        market, "forecast_evaluations", ["lgbm_forecasts", "prophet_forecasts"], BASE_MODELS,
        "Evaluations of the base models' forecasts (LightGBM, Prophet) whose horizon ends at D (made 1, 5, 10 "
        "and 20 sessions before), into ml.forecast_evaluations: realised price (in the forecast's units, "
        "adjusted for corporate actions in between) and return, direction_correct (the event the label states "
        "happened), price_error (target - realised) and price_error_pct, inside the 80% interval. No daily "
        "bar of D = no outcome = no row (an evaluation never exists before its outcome). Runs in the "
        "after-close daily job, and by automation when a forecast it evaluates is re-made.")


def build_ensemble_evaluations(market: Market) -> dg.AssetsDefinition:
    return _evaluation_asset(
        market, "ensemble_evaluations", ["ml_forecasts"], ("ensemble",),
        "Evaluations of the ensemble's forecasts whose horizon ends at D, into ml.forecast_evaluations (the "
        "same columns as forecast_evaluations). A separate asset because the ensemble is downstream of the "
        "weights and calibration learnt from the base models' evaluations: the graph stays acyclic.")


def _day_asset(market: Market, name: str, deps: list, code_version: str, table: str, kinds: set[str]) -> dict:
    return dict(
        key=keys.market_asset(market, name), partitions_def=trading_day_partitions(market.code),
        backfill_policy=dg.BackfillPolicy.single_run(), deps=deps, group_name=_group(market), kinds=kinds,
        owners=OWNERS, code_version=code_version, tags=market_tags(market, per_partition=False),
        automation_condition=dg.AutomationCondition.eager(), metadata=writes_tables(table) if table else None,
    )


def _days(context: dg.AssetExecutionContext) -> list[dt.date]:
    return sorted(dt.date.fromisoformat(k) for k in context.partition_keys)


def _daily_result(context: dg.AssetExecutionContext, warehouse: WarehouseResource, report: pipeline.DailyReport,
                  table: str, extra: dict | None = None) -> dg.MaterializeResult:
    for day, info in report.days.items():
        meta = {k: (dg.MetadataValue.json(v) if isinstance(v, dict) else v) for k, v in info.items()}
        meta["table"] = markdown_table(report.tables.get(day, pd.DataFrame()), max_rows=40)
        context.add_asset_metadata(meta, partition_key=day.isoformat())
    with warehouse.connection() as conn:
        tmeta = table_metadata(conn, table)
    return dg.MaterializeResult(metadata={**tmeta, "run/rows_written": report.rows_written,
                                          "run/days": len(report.days), "run/seconds": round(report.seconds, 3),
                                          **(extra or {})})


def build_model_weights(market: Market) -> dg.AssetsDefinition:
    deps = [dg.AssetDep(keys.market_asset(market, "forecast_evaluations"), partition_mapping=SAME_DAY)]

    @dg.asset(**_day_asset(market, "model_weights", deps, WEIGHTS_CODE_VERSION, "ml.model_weights",
                           {"postgres", "python"}))
    def model_weights(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """The ensemble's weights as of D (ml.model_weights), per horizon for the market (symbol_id NULL) and
        for symbols with enough evaluations (shrunk toward the market's): inverse-MSE of the log return of
        each base model over the forecasts both made, evaluated in the 60 sessions ending at D (a function
        of that window, never of earlier weights). Weights of one horizon and scope sum to 1 (a deferred
        constraint checks it at commit). The ensemble of D+1 uses them. A horizon with fewer than 30 paired
        evaluations gets no weights (the ensemble records equal weights)."""
        with warehouse.transaction() as conn:
            report = pipeline.model_weights(conn, market.code, _days(context), run_id=context.run_id)
        return _daily_result(context, warehouse, report, "ml.model_weights")

    return model_weights


def _reliability_png(table: pd.DataFrame, title: str) -> str | None:
    return markdown_image(reliability_png(table, title), "reliability diagram") if not table.empty else None


def build_confidence_calibration(market: Market) -> dg.AssetsDefinition:
    deps = [dg.AssetDep(keys.market_asset(market, "forecast_evaluations"), partition_mapping=SAME_DAY),
            dg.AssetDep(keys.market_asset(market, "model_weights"), partition_mapping=PREVIOUS_SESSION)]

    @dg.asset(**_day_asset(market, "confidence_calibration", deps, CALIBRATION_CODE_VERSION,
                           "ml.ml_confidence_calibration", {"postgres", "python"}))
    def confidence_calibration(context: dg.AssetExecutionContext, warehouse: WarehouseResource
                               ) -> dg.MaterializeResult:
        """Calibration of stated confidence as of D (ml.ml_confidence_calibration), per horizon and model:
        isotonic regression of whether the stated event happened on the stated confidence, over evaluations
        of the 250 sessions ending at D, as 10 buckets (predicted, actual, n, calibrated, adjustment) with
        the window's ECE before and after. The ensemble's curve is fitted on its raw confidence recomputed
        from the base forecasts and the weights it used (not read from its rows: it is downstream). The
        ensemble of D+1 maps its confidence through it. Metadata: a reliability diagram."""
        days = _days(context)
        with warehouse.transaction() as conn:
            report = pipeline.confidence_calibration(conn, market.code, days, run_id=context.run_id)
        last = report.tables.get(days[-1], pd.DataFrame())
        png = _reliability_png(last, f"{market.code} reliability as of {days[-1]}")
        return _daily_result(context, warehouse, report, "ml.ml_confidence_calibration",
                             {"reliability_diagram": dg.MetadataValue.md(png)} if png else None)

    return confidence_calibration


def _accuracy_png(table: pd.DataFrame, title: str, horizons: tuple[str, ...] = ("1D", "5D", "10D", "20D")
                  ) -> str | None:
    if table.empty:
        return None
    return markdown_image(hit_rates_png(table, title, horizons), "hit rate vs baselines")


def build_model_performance(market: Market) -> dg.AssetsDefinition:
    deps = [dg.AssetDep(keys.market_asset(market, n), partition_mapping=SAME_DAY)
            for n in ("forecast_evaluations", "ensemble_evaluations")]

    @dg.asset(**_day_asset(market, "model_performance", deps, PERFORMANCE_CODE_VERSION,
                           "ml.model_performance_history", {"postgres", "python"}))
    def model_performance(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Performance as of D (ml.model_performance_history), per horizon and model over the evaluations of
        the 60 sessions ending at D: n, hit rate with its 95% Wilson interval, MAE and RMSE of the log return,
        time-series IC per symbol, rank IC across symbols per day and ICIR, coverage of the 80% interval, ECE
        and Brier score of P(up); the naive baselines (persistence, always-up, historical up-frequency, zero
        return) as rows of their own on the same outcomes. Metadata: hit rates vs baselines (table, plot)."""
        days = _days(context)
        with warehouse.transaction() as conn:
            report = pipeline.model_performance(conn, market.code, days, run_id=context.run_id)
        last = report.tables.get(days[-1], pd.DataFrame())
        png = _accuracy_png(last, f"{market.code} hit rate vs baselines as of {days[-1]}")
        return _daily_result(context, warehouse, report, "ml.model_performance_history",
                             {"accuracy_vs_baselines": dg.MetadataValue.md(png)} if png else None)

    return model_performance


def build_intraday_model_performance(market: Market) -> dg.AssetsDefinition:
    deps = [dg.AssetDep(keys.market_asset(market, "intraday_forecast_evaluations"), partition_mapping=SAME_DAY)]

    @dg.asset(**_day_asset(market, "intraday_model_performance", deps, INTRADAY_PERFORMANCE_CODE_VERSION,
                           "ml.model_performance_history", {"postgres", "python"}))
    def intraday_model_performance(context: dg.AssetExecutionContext,
                                   warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Intraday performance as of D: the rows of the intraday horizons 15m and 1h in
        ml.model_performance_history, over the intraday evaluations of the 20 sessions ending at D, with the
        same figures as model_performance (n, hit rate with its Wilson interval, MAE/RMSE of the log return,
        time-series IC, rank IC across symbols per issue time and ICIR, 80% interval coverage, ECE and Brier
        of P(up); steps counted in m15 bars) beside persistence (the last k bars' return) and zero return.
        Its own asset, not part of model_performance: intraday evaluations land every 15 minutes while
        daily ones land once after the close, so the daily figures are not recomputed each tick; each asset
        replaces only its own horizons' rows. Metadata: hit rates vs baselines (table, plot)."""
        days = _days(context)
        with warehouse.transaction() as conn:
            report = pipeline.intraday_performance(conn, market.code, days, run_id=context.run_id)
        last = report.tables.get(days[-1], pd.DataFrame())
        png = _accuracy_png(last, f"{market.code} intraday hit rate vs baselines as of {days[-1]}", ("15m", "1h"))
        return _daily_result(context, warehouse, report, "ml.model_performance_history",
                             {"accuracy_vs_baselines": dg.MetadataValue.md(png)} if png else None)

    return intraday_model_performance


def build_ensemble_inputs(market: Market) -> dg.AssetsDefinition:
    deps = [dg.AssetDep(keys.market_asset(market, n), partition_mapping=PREVIOUS_SESSION)
            for n in ("model_weights", "confidence_calibration")]

    @dg.asset(**_day_asset(market, "ensemble_inputs", deps, WEIGHTS_CODE_VERSION, "", {"python"}))
    def ensemble_inputs(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """What the ensemble of D uses: the weights and the calibration of the previous session (D-1, by a
        TimeWindowPartitionMapping on trading days), shown per horizon; ml_forecasts of D (every symbol)
        depends on it. Writes nothing: it is the one-session step of the feedback loop, which Dagster cannot
        map directly from a trading-day asset to a trading-day x symbol asset."""
        from swiftbolt.forecasts import store as forecast_store

        for day in _days(context):
            with warehouse.connection() as conn:
                w = forecast_store.load_weights(conn, market.code, day)
                cal = forecast_store.load_calibration(conn, market.code, "ensemble", day)
            market_w = w[w["symbol_id"].isna()]
            newest = market_w["as_of_date"].max() if not market_w.empty else None
            shown = market_w[market_w["as_of_date"] == newest] if newest else market_w
            cal_as_of = cal["as_of_date"].max() if not cal.empty else None
            context.add_asset_metadata({
                "weights_as_of": str(newest) if newest else "equal weights: no weights yet",
                "weights": markdown_table(shown[["horizon", "model_type", "weight"]] if not shown.empty
                                          else pd.DataFrame()),
                "calibration_as_of": str(cal_as_of) if cal_as_of else "uncalibrated: no calibration yet",
            }, partition_key=day.isoformat())
        return dg.MaterializeResult(metadata={"run/days": len(context.partition_keys)})

    return ensemble_inputs


# ------------------------------------------------------------------------------------------ monitoring

def _alert(conn, market: Market, alert_type: str, failed: bool, severity: str, details: dict) -> None:
    key = alerts.default_dedupe_key(alert_type, market.code)
    if failed:
        alerts.raise_alert(conn, market=market.code, alert_type=alert_type, severity=severity, details=details,
                           dedupe_key=key)
    else:
        alerts.resolve_alerts(conn, dedupe_keys=[key])


def forecasts_stale(conn, market: Market, now: dt.datetime) -> tuple[bool, dict]:
    last_closed = timing.last_closed_session(market.code, now)
    row = conn.execute("SELECT max(f.forecast_date) FROM ml.ml_forecasts f JOIN market.symbols s ON s.id = f.symbol_id "
                       "WHERE s.market = %s AND f.model_type = 'ensemble'", (market.code,)).fetchone()
    latest = row[0] if row else None
    stale = latest is None or (last_closed is not None and latest < last_closed)
    return stale, {"latest_forecast": str(latest), "last_closed_session": str(last_closed)}


def accuracy_drift(perf: pd.DataFrame) -> list[dict]:
    """Models whose trailing hit rate is below the best applicable baseline's by more than the sampling noise:
    margin = 1.96 x sqrt(p (1 - p) / n_eff), n_eff = n / h (overlapping h-session outcomes), i.e. the
    model's hit rate is outside a 95% band around the baseline's; or whose IC is negative beyond 1.96 /
    sqrt(n_eff)."""

    out = []
    for horizon, g in perf.groupby("horizon"):
        base = g[g["is_baseline"] & g["hit_rate"].notna()]
        if base.empty:
            continue
        best = base.loc[base["hit_rate"].idxmax()]
        for _, m in g[~g["is_baseline"]].iterrows():
            n_eff = max(float(m["n"]) / HORIZONS[str(horizon)], 1.0)
            p = float(best["hit_rate"])
            margin = Z95 * float(np.sqrt(p * (1 - p) / n_eff))
            hit = m["hit_rate"]
            ic = m["ic"]
            if hit is not None and np.isfinite(hit) and hit < p - margin:
                out.append({"horizon": horizon, "model": m["model"], "hit_rate": round(float(hit), 4),
                            "baseline": best["model"], "baseline_hit_rate": round(p, 4), "margin": round(margin, 4)})
            elif ic is not None and np.isfinite(ic) and ic < -Z95 / np.sqrt(n_eff):
                out.append({"horizon": horizon, "model": m["model"], "ic": round(float(ic), 4),
                            "margin": round(float(Z95 / np.sqrt(n_eff)), 4)})
    return out


def feature_drift(conn, market: Market, as_of: dt.date) -> dict[str, float]:
    """PSI of the newest 1D model's top features: the last FEATURE_DRIFT_SESSIONS sessions up to as_of against
    the model's training window."""
    fs = current_feature_set(conn)
    row = conn.execute("SELECT train_start, train_end, feature_importance FROM ml.ml_model_versions "
                       "WHERE market = %s AND horizon = '1D' AND train_end < %s ORDER BY train_end DESC LIMIT 1",
                       (market.code, as_of)).fetchone()
    if fs is None or row is None:
        return {}
    train_start, train_end, importance = row
    top = [k for k, _ in sorted(importance.items(), key=lambda kv: -kv[1]) if k in fs.keys][:FEATURE_DRIFT_TOP]
    ids = [r[0] for r in conn.execute("SELECT id FROM market.symbols WHERE market = %s", (market.code,)).fetchall()]
    ref = load_feature_rows(conn, fs, ids, train_start, train_end)
    recent = load_feature_rows(conn, fs, ids, as_of - dt.timedelta(days=FEATURE_DRIFT_SESSIONS * 1.5 + 1), as_of)
    return {k: round(drift.psi(ref[k].to_numpy(float), recent[k].to_numpy(float)), 4) for k in top}


def build_checks(market: Market) -> list[dg.AssetChecksDefinition]:
    perf_key = keys.market_asset(market, "model_performance")
    cal_key = keys.market_asset(market, "confidence_calibration")
    weights_key = keys.market_asset(market, "model_weights")

    @dg.asset_check(asset=weights_key, name="weights_sum_to_one", blocking=True)
    def weights_sum_to_one(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        """Every (as_of_date, horizon, scope) of the market's weights sums to 1 (within 1e-9)."""
        with warehouse.connection() as conn:
            bad = conn.execute(
                "SELECT as_of_date, horizon, symbol_id, sum(weight) FROM ml.model_weights WHERE market = %s "
                "GROUP BY 1, 2, 3 HAVING abs(sum(weight) - 1) > 1e-9 LIMIT 20", (market.code,)).fetchall()
        examples = [list(map(str, b)) for b in bad]
        return dg.AssetCheckResult(passed=not bad, metadata={"scopes_not_summing_to_one": len(bad),
                                                             "examples": dg.MetadataValue.json(examples)})

    @dg.asset_check(asset=perf_key, name="forecasts_fresh", blocking=False)
    def forecasts_fresh(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        """The latest ensemble forecast is of the last closed session (else an ops.alerts row
        'forecasts_stale')."""
        with warehouse.connection() as conn:
            stale, details = forecasts_stale(conn, market, utc_now())
            _alert(conn, market, "forecasts_stale", stale, "warning", details)
            conn.commit()
        return dg.AssetCheckResult(passed=not stale, severity=dg.AssetCheckSeverity.WARN, metadata=details)

    @dg.asset_check(asset=perf_key, name="accuracy_drift", blocking=False)
    def accuracy_drift_check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        """No model's trailing hit rate is below the best baseline's by more than the 95% sampling margin
        (and no IC significantly negative) in the newest performance rows (else 'accuracy_drift' alert)."""
        with warehouse.connection() as conn:
            as_of = store.latest_performance_date(conn, market.code, DAILY_HORIZONS)
            perf = store.load_performance(conn, market.code, as_of, DAILY_HORIZONS) if as_of else pd.DataFrame()
            drifting = accuracy_drift(perf) if not perf.empty else []
            _alert(conn, market, "accuracy_drift", bool(drifting), "warning", {"as_of": str(as_of), "models": drifting})
            conn.commit()
        return dg.AssetCheckResult(passed=not drifting, severity=dg.AssetCheckSeverity.WARN, metadata={
            "as_of": str(as_of), "drifting": dg.MetadataValue.json(drifting)})

    @dg.asset_check(asset=perf_key, name="feature_drift", blocking=False)
    def feature_drift_check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        """PSI of the newest 1D model's top features (last 20 sessions vs its training window) below 0.25
        (else 'feature_drift' alert; 0.1-0.25 is a moderate shift, shown but passing)."""
        with warehouse.connection() as conn:
            as_of = store.latest_performance_date(conn, market.code, DAILY_HORIZONS) or dt.date.today()
            psis = feature_drift(conn, market, as_of)
            shifted = {k: v for k, v in psis.items() if np.isfinite(v) and v > FEATURE_PSI_ALERT}
            _alert(conn, market, "feature_drift", bool(shifted), "warning", {"as_of": str(as_of), "psi": shifted})
            conn.commit()
        return dg.AssetCheckResult(passed=not shifted, severity=dg.AssetCheckSeverity.WARN, metadata={
            "psi": dg.MetadataValue.json(psis), "above_threshold": dg.MetadataValue.json(shifted),
            "threshold": FEATURE_PSI_ALERT})

    @dg.asset_check(asset=cal_key, name="calibration_drift", blocking=False)
    def calibration_drift(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        """The ensemble's raw ECE over the newest calibration window is at most 0.10 per horizon (else a
        'calibration_drift' alert: the calibration is doing a lot of correcting)."""
        with warehouse.connection() as conn:
            rows = conn.execute(
                "SELECT horizon, max(ece_before), max(ece_after), max(n_window) FROM ml.ml_confidence_calibration "
                "WHERE market = %s AND model_type = 'ensemble' AND as_of_date = (SELECT max(as_of_date) FROM "
                "ml.ml_confidence_calibration WHERE market = %s) GROUP BY horizon",
                (market.code, market.code)).fetchall()
            eces = {r[0]: {"ece_before": round(r[1], 4), "ece_after": round(r[2], 4), "n": r[3]} for r in rows}
            bad = {h: v for h, v in eces.items() if v["ece_before"] > ECE_THRESHOLD}
            _alert(conn, market, "calibration_drift", bool(bad), "warning", {"horizons": bad})
            conn.commit()
        return dg.AssetCheckResult(passed=not bad, severity=dg.AssetCheckSeverity.WARN, metadata={
            "ece": dg.MetadataValue.json(eces), "threshold": ECE_THRESHOLD})

    return [weights_sum_to_one, forecasts_fresh, accuracy_drift_check, feature_drift_check, calibration_drift]


def build_assets(market: Market) -> list[dg.AssetsDefinition | dg.AssetChecksDefinition]:
    """The evaluation domain of one market."""
    return [build_forecast_evaluations(market), build_model_weights(market), build_confidence_calibration(market),
            build_ensemble_inputs(market), build_ensemble_evaluations(market), build_model_performance(market),
            build_intraday_model_performance(market), *build_checks(market)]
