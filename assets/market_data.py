"""Market data assets per market: ohlc_bars (trading day x symbol), corporate_actions, quotes, with
their asset checks beside them. The work is in swiftbolt.market_data; these bodies read the
partitions, call the core and turn its report into metadata."""

import datetime as dt

import dagster as dg
import pandas as pd

from assets import keys, teams
from assets.failures import ALIVE_RUN_STATES, dagster_run_state, one_line_failures
from assets.metadata import (
    add_partition_metadata,
    counts_table,
    last_partition_per_symbol,
    line_plot,
    markdown_table,
    row_preview,
    table_metadata,
    timestamp,
    writes_tables,
)
from assets.partitions import market_partitions, market_tags, partition_symbols
from resources import MarketDataResource, WarehouseResource
from swiftbolt import clock
from swiftbolt.calendars.timing import last_session_past_deadline
from swiftbolt.code_version import source_version
from swiftbolt.instance import PROVIDER_POOL
from swiftbolt.market_data import bar_checks, bar_store, corporate_actions, ingest, pipeline, quotes, validation
from swiftbolt.market_data.bar_checks import QualityThresholds, stale_sessions_table, symbols_without_daily_bars
from swiftbolt.market_data.corporate_actions import write_corporate_actions
from swiftbolt.market_data.ingest import RunInfo, mark_abandoned_runs
from swiftbolt.market_data.pipeline import BarsRunReport, run_bars_pipeline
from swiftbolt.market_data.quotes import write_quotes
from swiftbolt.market_data.types import FETCHED_TIMEFRAMES, OPTIONAL_FETCHED_TIMEFRAMES, Timeframe
from swiftbolt.markets import Market
from swiftbolt.settings import extra_timeframes, history_start
from swiftbolt.universe import active_symbols

OWNERS = teams.DATA_ENGINEERING


def fetched_timeframes() -> list[Timeframe]:
    """What the bar assets fetch: m15 and d1 (h1/h4 are derived from m15, w1/mo1 from d1), plus m1/m5
    from SWIFTBOLT_EXTRA_TIMEFRAMES (a bad value is a ConfigError when the definitions load)."""
    extra = [t for t in OPTIONAL_FETCHED_TIMEFRAMES if t.value in extra_timeframes()]
    return [*extra, *FETCHED_TIMEFRAMES]


def bars_code_version() -> str:
    return source_version(validation, bar_store, ingest, pipeline, bar_checks,
                          params={"timeframes": [t.value for t in fetched_timeframes()]})


class OhlcBarsConfig(dg.Config):
    error_reject_ratio: float = 0.01
    """Share of quality-rejected rows above which the quality check fails with ERROR."""
    timeframes: list[str] | None = None
    """Fetch only these of the asset's fetched timeframes (e.g. ["d1"] for a history backfill that only the
    daily models read); None: all of them. The others are listed in run/timeframes_not_served."""


def run_timeframes(timeframes: list[Timeframe], wanted: list[str] | None) -> tuple[list[Timeframe], dict[str, str]]:
    """The fetched timeframes a run asks for (config `timeframes`), and the reason for each left out."""
    if wanted is None:
        return timeframes, {}
    unknown = sorted(set(wanted) - {t.value for t in timeframes})
    if unknown:
        raise dg.Failure(f"ohlc_bars config timeframes {unknown} are not fetched timeframes of this asset; use some of "
                         f"{[t.value for t in timeframes]}")
    return ([t for t in timeframes if t.value in wanted],
            {t.value: "not requested by this run (config timeframes)" for t in timeframes if t.value not in wanted})


def build_bars_freshness_check(market: Market) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=keys.ohlc_bars(market), name="bars_fresh", blocking=False)
    def bars_fresh(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        """Staleness: every active symbol has its daily bars for the latest session whose deadline
        (close + after-close buffer + 60 min) has passed."""
        due = last_session_past_deadline(market.code, clock.utc_now())
        if due is None:
            return dg.AssetCheckResult(passed=True, description="no session past its deadline yet")
        session, deadline = due
        with warehouse.connection() as conn:
            missing, active = symbols_without_daily_bars(conn, market.code, session)
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


def _partition_figures(row) -> dict:
    by_tf = {c.removeprefix("rows_"): int(getattr(row, c)) for c in row._fields if c.startswith("rows_")}
    return {
        "dagster/row_count": int(row.rows),
        "rows_by_timeframe": counts_table(by_tf, "timeframe"),
        "rejected_rows": int(row.rejected),
        "rejected_by_reason": counts_table(row.rejected_by_reason, "reason"),
        "first_bar": timestamp(row.first_bar),
        "last_bar": timestamp(row.last_bar),
        "checksum": row.checksum or "none",
    }


def _check_results(report: BarsRunReport) -> list[dg.AssetCheckResult]:
    a = report.assessment
    return [
        dg.AssetCheckResult(
            check_name="bar_quality", passed=a.quality_severity is None, severity=_severity(a.quality_severity),
            description=a.quality_message,
            metadata={"rejected_by_reason": counts_table(a.rejected_by_reason, "reason"),
                      "reject_ratio": a.reject_ratio,
                      "quarantined": dg.MetadataValue.md(a.quality_table())},
        ),
        dg.AssetCheckResult(
            check_name="session_coverage", passed=a.coverage_severity is None,
            severity=_severity(a.coverage_severity), description=a.coverage_message,
            metadata={"incomplete": dg.MetadataValue.md(a.coverage_table()),
                      "judged_at": dg.MetadataValue.timestamp(a.coverage.judged_at),
                      "missing_sessions": dg.MetadataValue.json(a.missing_sessions[:50]),
                      "short_sessions": dg.MetadataValue.json(a.short_sessions[:50])},
        ),
    ]


def _close_plots(context: dg.AssetExecutionContext, warehouse: WarehouseResource, report: BarsRunReport,
                 symbol_ids: dict[str, int]) -> None:
    """The symbol's daily closes over the run's days, on the symbol's newest partition of the run."""
    last = last_partition_per_symbol(report.partitions)
    with warehouse.connection() as conn:
        for row in last.itertuples(index=False):
            dates = report.partitions.loc[report.partitions["symbol"] == row.symbol, "session_date"]
            closes = pd.DataFrame(conn.execute(
                "SELECT session_date, close FROM market.ohlc_bars WHERE symbol_id = %s AND timeframe = 'd1' "
                "AND session_date BETWEEN %s AND %s ORDER BY session_date",
                (symbol_ids[row.symbol], min(dates), max(dates)),
            ).fetchall(), columns=["session_date", "close"])
            if len(closes) < 2:
                continue
            series = closes.set_index("session_date")["close"].astype(float)
            plot = line_plot({row.symbol: series}, f"{row.symbol} daily close (raw), this run's sessions")
            add_partition_metadata(context, pd.DataFrame([row]), lambda _r, p=plot: {"close_plot": p})


def build_ohlc_bars(market: Market) -> dg.AssetsDefinition:
    quality_check = dg.AssetCheckSpec("bar_quality", asset=keys.ohlc_bars(market), blocking=True,
                                      description="Rows of the run's partitions quarantined for a data fault "
                                                  "(WARN; ERROR above 1% of rows), by session, symbol, reason.")
    coverage_check = dg.AssetCheckSpec("session_coverage", asset=keys.ohlc_bars(market), blocking=True,
                                       description="Judged at check time: a closed session needs its daily bar "
                                                   "(ERROR) and every m15 bar of the calendar, early closes "
                                                   "included (WARN); an open session only its bars ended so far.")
    code_version = bars_code_version()
    timeframes = fetched_timeframes()  # validated here, when the definitions load
    asset_key = keys.ohlc_bars(market).to_user_string()

    @dg.asset(
        key=keys.ohlc_bars(market),
        partitions_def=market_partitions(market.code),
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=PROVIDER_POOL,
        deps=[keys.SYMBOLS, keys.MARKET_CALENDAR],
        check_specs=[quality_check, coverage_check],
        group_name=f"{market.code}_market_data",
        kinds={"postgres", "python"},
        owners=OWNERS,
        code_version=code_version,
        tags=market_tags(market, per_partition=True),
        metadata=writes_tables("market.ohlc_bars", "market.bar_datasets", "market.coverage_status",
                               "market.provider_checkpoints", "market.ingestion_runs", "ops.bar_quarantine"),
    )
    def ohlc_bars(
        context: dg.AssetExecutionContext,
        config: OhlcBarsConfig,
        warehouse: WarehouseResource,
        market_data: MarketDataResource,
    ) -> dg.MaterializeResult:
        """Raw (unadjusted) OHLCV bars in market.ohlc_bars, one partition per trading day and symbol.
        Fetched: m15, d1 (m1/m5 with SWIFTBOLT_EXTRA_TIMEFRAMES), those the provider serves (vendor
        files: d1 only; the others are listed in `run/timeframes_not_served`). Derived: h1 and h4 from
        the regular-session m15 bars, anchored at the session open (crypto: UTC hours); w1 and mo1 from
        d1. A range of days runs as one run with one paginated provider request per timeframe. Every row
        the provider returns is stored or quarantined (ops.bar_quarantine, with the reason and the
        session it claims): received = stored + quarantined per request. Each trading day is replaced
        whole, in month-sized transactions. Each partition's materialization carries its own rows by
        timeframe, first/last bar, checksum and rejected rows; `run/...` figures are the run's.
        Ingestion runs of this asset left 'running' by a killed run are marked 'abandoned'."""
        with one_line_failures(f"{asset_key} run {context.run_id[:8]}"):
            return _ohlc_bars(context, config, warehouse, market_data)

    def _ohlc_bars(
        context: dg.AssetExecutionContext,
        config: OhlcBarsConfig,
        warehouse: WarehouseResource,
        market_data: MarketDataResource,
    ) -> dg.MaterializeResult:
        by_symbol, symbol_ids = partition_symbols(context, warehouse, market)
        abandoned = mark_abandoned_runs(warehouse.url(), asset_key, context.run_id,
                                        lambda run_id: dagster_run_state(context.instance, run_id), ALIVE_RUN_STATES)
        for ingestion_run, dagster_run, state in abandoned:
            context.log.warning(f"ingestion run {ingestion_run} (dagster run {dagster_run}, {state}) never "
                                "recorded an end: marked abandoned")
        provider = market_data.get_provider()
        run = context.run
        info = RunInfo(
            dagster_run_id=run.run_id, dagster_root_run_id=run.root_run_id or run.run_id,
            partition_range=f"{len(context.partition_keys)} partitions", code_version=code_version,
            feed=market_data.feed if market_data.provider_name() == "alpaca" else None,
            asset_key=asset_key,
        )
        requested, skipped = run_timeframes(timeframes, config.timeframes)
        report = run_bars_pipeline(
            warehouse.url(), provider, market.code, symbol_ids, by_symbol, requested, info,
            QualityThresholds(error_reject_ratio=config.error_reject_ratio), log=context.log.info,
        )
        report.timeframes_not_served.update(skipped)
        add_partition_metadata(context, report.partitions, _partition_figures)
        _close_plots(context, warehouse, report, symbol_ids)
        days = report.partitions["session_date"]
        with warehouse.connection() as conn:
            table = table_metadata(conn, "market.ohlc_bars")
            preview = row_preview(
                conn,
                "SELECT s.ticker, b.timeframe, b.ts, b.open, b.high, b.low, b.close, b.volume "
                "FROM market.ohlc_bars b JOIN market.symbols s ON s.id = b.symbol_id "
                "WHERE b.symbol_id = ANY(%s) AND b.timeframe = 'd1' AND b.session_date BETWEEN %s AND %s "
                "ORDER BY b.session_date DESC, s.ticker",
                (list(symbol_ids.values()), days.min(), days.max()),
            )
        a = report.assessment
        for name, severity, message in (("bar_quality", a.quality_severity, a.quality_message),
                                         ("session_coverage", a.coverage_severity, a.coverage_message)):
            if severity == "ERROR":  # the run page's failure names only the check; say what is wrong here
                context.log.error(f"{name} fails: {message}")
        return dg.MaterializeResult(
            metadata={
                **table,
                "provider": provider.name,
                "feed": info.feed or "n/a",
                "run/symbols": len(by_symbol),
                "run/partitions": len(report.partitions),
                "run/first_session": str(days.min()),
                "run/last_session": str(days.max()),
                "run/rows_written": report.rows_written,
                "run/rows_received": report.rows_received,
                "run/rows_stored": report.rows_stored,
                "run/rows_derived": report.rows_derived,
                "run/requests": markdown_table(report.requests(), max_rows=50),
                "run/abandoned_ingestion_runs": dg.MetadataValue.json([a[0] for a in abandoned]),
                "run/rows_by_timeframe": counts_table(report.rows_by_timeframe(), "timeframe"),
                "run/rejected_rows": report.rows_rejected,
                "run/rejected_by_reason": counts_table(report.rejected_by_reason(), "reason"),
                "run/provider_requests": report.provider_requests,
                "run/timeframes_not_served": dg.MetadataValue.json(report.timeframes_not_served),
                "run/transactions": report.transactions,
                "run/ingestion_run_ids": dg.MetadataValue.json([r.ingestion_run_id for r in report.ingests]),
                "run/resumed_after": str(report.ingests[0].resumed_after or "no") if report.ingests else "no",
                "run/preview": preview,
            },
            check_results=_check_results(report),
        )

    return ohlc_bars


def _provider_asset(market: Market, name: str, *tables: str) -> dict:
    """Decorator arguments of the unpartitioned per-market assets that call the provider."""
    return dict(key=keys.market_asset(market, name), deps=[keys.SYMBOLS], group_name=f"{market.code}_market_data",
                kinds={"postgres", "python"}, owners=OWNERS, pool=PROVIDER_POOL,
                tags=market_tags(market, per_partition=False), metadata=writes_tables(*tables))


def build_corporate_actions(market: Market) -> dg.AssetsDefinition:
    @dg.asset(**_provider_asset(market, "corporate_actions", "market.corporate_actions"),
              code_version=source_version(corporate_actions))
    def corporate_actions_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, market_data: MarketDataResource
    ) -> dg.MaterializeResult:
        """Splits, reverse splits and cash dividends (market.corporate_actions) of the market's active
        symbols from the history start to today. They drive the adjusted series
        (market.ohlc_bars_adjusted); raw bars are never rewritten."""
        provider = market_data.get_provider()
        start, end = history_start(), dt.date.today()
        with warehouse.transaction() as conn:
            ids = active_symbols(conn, market.code)
            actions = provider.corporate_actions(sorted(ids), start, end) if ids else pd.DataFrame(
                columns=["symbol", "action_type", "ex_date"])
            stats = write_corporate_actions(conn, actions, ids, start, end, provider.name)
            table = table_metadata(conn, "market.corporate_actions")
        context.log.info(f"corporate actions {start}..{end}: {stats}")
        preview = actions.sort_values("ex_date").tail(20) if not actions.empty else actions
        return dg.MaterializeResult(metadata={
            **table, "provider": provider.name, **stats, "dagster/row_count": len(actions),
            "preview": markdown_table(preview),
        })

    return corporate_actions_asset


def build_quotes(market: Market) -> dg.AssetsDefinition:
    @dg.asset(**_provider_asset(market, "quotes", "market.quotes"), code_version=source_version(quotes))
    def quotes_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, market_data: MarketDataResource
    ) -> dg.MaterializeResult:
        """Latest quote per active symbol (market.quotes: last, bid, ask, day high/low, previous
        close), refreshed intraday."""
        provider = market_data.get_provider()
        with warehouse.transaction() as conn:
            ids = active_symbols(conn, market.code)
            frame = provider.latest_quotes(sorted(ids)) if ids else pd.DataFrame()
            written = write_quotes(conn, frame, ids, provider.name) if not frame.empty else 0
            table = table_metadata(conn, "market.quotes")
        context.log.info(f"{written} quotes upserted")
        return dg.MaterializeResult(metadata={
            **table, "provider": provider.name, "dagster/row_count": written, "symbols": len(ids),
            "latest_ts": timestamp(frame["ts"].max() if not frame.empty else None),
            "preview": markdown_table(frame),
        })

    return quotes_asset


def build_assets(market: Market) -> list[dg.AssetsDefinition | dg.AssetChecksDefinition]:
    """The market data domain of one market."""
    built: list[dg.AssetsDefinition | dg.AssetChecksDefinition] = [
        build_ohlc_bars(market), build_quotes(market), build_bars_freshness_check(market),
    ]
    if market.has_corporate_actions:
        built.append(build_corporate_actions(market))
    return built
