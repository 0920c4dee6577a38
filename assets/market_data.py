"""Market data assets per market: ohlc_bars (trading day x symbol), corporate_actions, quotes,
with asset checks beside them."""

import datetime as dt

import dagster as dg
import pandas as pd

from assets.partitions import market_partitions, split_partition_keys
from resources import MarketDataResource, WarehouseResource
from swiftbolt import clock
from swiftbolt.automation import last_session_past_deadline
from swiftbolt.instance import PROVIDER_POOL
from swiftbolt.marketdata.bar_checks import (
    QualityThresholds,
    assess_partitions,
    stale_sessions_table,
    symbols_without_daily_bars,
)
from swiftbolt.marketdata.corporate_actions import write_corporate_actions
from swiftbolt.marketdata.ingest import RunInfo, ingest_bars
from swiftbolt.marketdata.quotes import write_quotes
from swiftbolt.marketdata.types import FETCHED_TIMEFRAMES, OPTIONAL_FETCHED_TIMEFRAMES, Timeframe
from swiftbolt.settings import extra_timeframes, history_start
from swiftbolt.universe import active_symbols, not_in_universe_reason

OWNERS = ["team:data-engineering"]
BARS_CODE_VERSION = "1"
SYMBOLS_KEY = dg.AssetKey(["market", "symbols"])
CALENDAR_KEY = dg.AssetKey(["market", "market_calendar"])


def fetched_timeframes() -> list[Timeframe]:
    extra = [t for t in OPTIONAL_FETCHED_TIMEFRAMES if t.value in extra_timeframes()]
    return [*extra, *FETCHED_TIMEFRAMES]


class OhlcBarsConfig(dg.Config):
    error_reject_ratio: float = 0.01
    """Share of quality-rejected rows above which the quality check fails with ERROR."""


def build_bars_freshness_check(market: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=[market, "ohlc_bars"], name="bars_fresh", blocking=False)
    def bars_fresh(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        """Staleness: every active symbol has its daily bars for the latest session whose deadline
        (close + after-close buffer + 60 min) has passed."""
        due = last_session_past_deadline(market, clock.utc_now())
        if due is None:
            return dg.AssetCheckResult(passed=True, description="no session past its deadline yet")
        session, deadline = due
        with warehouse.connection() as conn:
            missing, active = symbols_without_daily_bars(conn, market, session)
        return dg.AssetCheckResult(
            passed=not missing, severity=dg.AssetCheckSeverity.WARN,
            description=(f"{len(missing)} of {active} active symbols have no daily bars for {session} "
                         f"(deadline {deadline:%Y-%m-%d %H:%M} UTC)" if missing
                         else f"all {active} active symbols have daily bars for {session}"),
            metadata={"session": str(session), "missing_symbols": dg.MetadataValue.json(missing),
                      "incomplete": dg.MetadataValue.md(stale_sessions_table(session, deadline, missing))},
        )

    return bars_fresh


def _severity(level: str | None) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if level == "ERROR" else dg.AssetCheckSeverity.WARN


def build_ohlc_bars(market: str) -> dg.AssetsDefinition:
    quality_check = dg.AssetCheckSpec("bar_quality", asset=[market, "ohlc_bars"], blocking=True,
                                      description="Rows of the run's partitions quarantined for a data fault "
                                                  "(WARN; ERROR above 1% of rows), by session, symbol, reason.")
    coverage_check = dg.AssetCheckSpec("session_coverage", asset=[market, "ohlc_bars"], blocking=True,
                                       description="Judged at check time: a closed session needs its daily bar "
                                                   "(ERROR) and every m15 bar of the calendar, early closes "
                                                   "included (WARN); an open session only its bars ended so far.")

    @dg.asset(
        key=[market, "ohlc_bars"],
        partitions_def=market_partitions(market),
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=PROVIDER_POOL,
        deps=[SYMBOLS_KEY, CALENDAR_KEY],
        check_specs=[quality_check, coverage_check],
        group_name=f"{market}_market_data",
        kinds={"postgres", "python"},
        owners=OWNERS,
        code_version=BARS_CODE_VERSION,
        tags={"swiftbolt/market": market},
    )
    def ohlc_bars(
        context: dg.AssetExecutionContext,
        config: OhlcBarsConfig,
        warehouse: WarehouseResource,
        market_data: MarketDataResource,
    ) -> dg.MaterializeResult:
        """Raw (unadjusted) OHLCV bars in market.ohlc_bars, one partition per trading day and symbol.
        Fetched: m15, h1, h4, d1 (m1/m5 with SWIFTBOLT_EXTRA_TIMEFRAMES); derived in SQL from d1:
        w1, mo1. A range of days runs as one run with one paginated provider request per timeframe.
        Invalid rows go to ops.bar_quarantine with the reason; each trading day is replaced whole,
        in month-sized transactions."""
        by_symbol = split_partition_keys(list(context.partition_keys))
        provider = market_data.get_provider()
        url = warehouse.url()
        with warehouse.connection() as conn:
            known = active_symbols(conn, market)
        unknown = sorted(set(by_symbol) - set(known))
        if unknown:
            raise dg.Failure(not_in_universe_reason(market, unknown))
        # a rectangle of partitions (the usual case) is one ingest; anything else one ingest per symbol
        groups: dict[tuple[dt.date, ...], list[str]] = {}
        for symbol, dates in by_symbol.items():
            groups.setdefault(tuple(dates), []).append(symbol)
        timeframes = fetched_timeframes()
        run = context.run
        info = RunInfo(
            dagster_run_id=run.run_id, dagster_root_run_id=run.root_run_id or run.run_id,
            partition_range=f"{len(context.partition_keys)} partitions", code_version=BARS_CODE_VERSION,
            feed=market_data.feed if market_data.provider_name() == "alpaca" else None,
        )
        reports = []
        for dates, symbols in groups.items():
            reports.append(ingest_bars(
                url, provider, market, {s: known[s] for s in symbols}, list(dates), timeframes, info,
                log=context.log.info,
            ))
        rows_by_tf: dict[str, int] = {}
        rejected_by_reason: dict[str, int] = {}
        for r in reports:
            for k, v in r.rows_by_timeframe.items():
                rows_by_tf[k] = rows_by_tf.get(k, 0) + v
            for k, v in r.rejected_by_reason.items():
                rejected_by_reason[k] = rejected_by_reason.get(k, 0) + v
        with warehouse.connection() as conn:
            assessment = assess_partitions(
                conn, market, {s: known[s] for s in by_symbol}, by_symbol,
                QualityThresholds(error_reject_ratio=config.error_reject_ratio),
            )
        for name, severity, message in (("bar_quality", assessment.quality_severity, assessment.quality_message),
                                         ("session_coverage", assessment.coverage_severity,
                                          assessment.coverage_message)):
            if severity == "ERROR":  # the run page's failure names only the check; say what is wrong here
                context.log.error(f"{name} fails: {message}")
        firsts = [r.first_ts for r in reports if r.first_ts is not None]
        lasts = [r.last_ts for r in reports if r.last_ts is not None]
        all_dates = sorted({d for ds in by_symbol.values() for d in ds})
        return dg.MaterializeResult(
            metadata={
                "provider": provider.name,
                "feed": info.feed or "n/a",
                "symbols": dg.MetadataValue.json(sorted(by_symbol)),
                "first_session": str(all_dates[0]),
                "last_session": str(all_dates[-1]),
                "rows_written": sum(r.rows_written for r in reports),
                "rows_by_timeframe": dg.MetadataValue.json(rows_by_tf),
                "rejected_rows": sum(r.rows_rejected for r in reports),
                "rejected_by_reason": dg.MetadataValue.json(rejected_by_reason),
                "first_bar": str(min(firsts)) if firsts else "none",
                "last_bar": str(max(lasts)) if lasts else "none",
                "checksum": ",".join(r.checksum for r in reports),
                "provider_requests": sum(r.provider_requests for r in reports),
                "transactions": sum(r.chunks for r in reports),
                "ingestion_run_ids": dg.MetadataValue.json([r.ingestion_run_id for r in reports]),
                "resumed_after": str(reports[0].resumed_after) if reports and reports[0].resumed_after else "no",
                "dagster/row_count": sum(r.rows_written for r in reports),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="bar_quality", passed=assessment.quality_severity is None,
                    severity=_severity(assessment.quality_severity),
                    description=assessment.quality_message,
                    metadata={"rejected_by_reason": dg.MetadataValue.json(assessment.rejected_by_reason),
                              "reject_ratio": assessment.reject_ratio,
                              "quarantined": dg.MetadataValue.md(assessment.quality_table())},
                ),
                dg.AssetCheckResult(
                    check_name="session_coverage", passed=assessment.coverage_severity is None,
                    severity=_severity(assessment.coverage_severity),
                    description=assessment.coverage_message,
                    metadata={"incomplete": dg.MetadataValue.md(assessment.coverage_table()),
                              "judged_at": dg.MetadataValue.timestamp(assessment.coverage.judged_at),
                              "missing_sessions": dg.MetadataValue.json(assessment.missing_sessions[:50]),
                              "short_sessions": dg.MetadataValue.json(assessment.short_sessions[:50])},
                ),
            ],
        )

    return ohlc_bars


def _provider_asset(market: str, name: str) -> dict:
    """Decorator arguments of the unpartitioned per-market assets that call the provider."""
    return dict(key=[market, name], deps=[SYMBOLS_KEY], group_name=f"{market}_market_data",
                kinds={"postgres", "python"}, owners=OWNERS, code_version="1", pool=PROVIDER_POOL)


def build_corporate_actions(market: str) -> dg.AssetsDefinition:
    @dg.asset(**_provider_asset(market, "corporate_actions"))
    def corporate_actions(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, market_data: MarketDataResource
    ) -> dg.MaterializeResult:
        """Splits, reverse splits and cash dividends (market.corporate_actions) of the market's active
        symbols from the history start to today. They drive the adjusted series
        (market.ohlc_bars_adjusted); raw bars are never rewritten."""
        provider = market_data.get_provider()
        start, end = history_start(), dt.date.today()
        with warehouse.transaction() as conn:
            ids = active_symbols(conn, market)
            actions = provider.corporate_actions(sorted(ids), start, end) if ids else pd.DataFrame(
                columns=["symbol", "action_type", "ex_date"])
            stats = write_corporate_actions(conn, actions, ids, start, end, provider.name)
        context.log.info(f"corporate actions {start}..{end}: {stats}")
        preview = actions.sort_values("ex_date").tail(20).astype(str) if not actions.empty else None
        return dg.MaterializeResult(metadata={
            "provider": provider.name, **stats,
            "preview": dg.MetadataValue.md(preview.to_markdown(index=False)) if preview is not None else "none",
        })

    return corporate_actions


def build_quotes(market: str) -> dg.AssetsDefinition:
    @dg.asset(**_provider_asset(market, "quotes"))
    def quotes(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, market_data: MarketDataResource
    ) -> dg.MaterializeResult:
        """Latest quote per active symbol (market.quotes: last, bid, ask, day high/low, previous
        close), refreshed intraday."""
        provider = market_data.get_provider()
        with warehouse.transaction() as conn:
            ids = active_symbols(conn, market)
            frame = provider.latest_quotes(sorted(ids)) if ids else pd.DataFrame()
            written = write_quotes(conn, frame, ids, provider.name) if not frame.empty else 0
        context.log.info(f"{written} quotes upserted")
        return dg.MaterializeResult(metadata={
            "provider": provider.name, "quotes_upserted": written, "symbols": len(ids),
            "latest_ts": str(frame["ts"].max()) if not frame.empty else "none",
        })

    return quotes
