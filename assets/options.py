"""Options assets per market with listed options (Market.has_options): options_chain_snapshots, iv_history,
options_ranks and ranking_evaluations, all [trading day x symbol], with their asset checks beside them.
Thin wiring around swiftbolt.options.pipeline; a market without options gets none of them.

Cadence: options_chain_snapshots is in the intraday job (a snapshot every 15 minutes while the session
trades) and, with the rest, in the daily job after the close (the closing snapshot, then IV history,
ranks and the evaluations whose horizon has realized)."""

import dagster as dg
import pandas as pd

from assets import keys, teams
from assets.metadata import (
    add_partition_metadata,
    counts_table,
    markdown_table,
    row_preview,
    table_metadata,
    timestamp,
)
from assets.metadata import writes_tables as _writes
from assets.partitions import market_partitions, market_tags, partition_symbols
from resources import MarketDataResource, WarehouseResource
from swiftbolt import clock
from swiftbolt.code_version import source_version
from swiftbolt.instance import PROVIDER_POOL
from swiftbolt.markets import Market
from swiftbolt.options import chains, evaluation, greeks, iv_surface, pipeline, pricing, ranking, store

OWNERS = teams.QUANT_RESEARCH
FAULT_ERROR_SHARE = 0.05

SNAPSHOT_CODE_VERSION = source_version(chains, greeks, pricing, store, pipeline)
IV_CODE_VERSION = source_version(iv_surface, store, pipeline)
RANKS_CODE_VERSION = source_version(ranking, store, pipeline)
EVALUATION_CODE_VERSION = source_version(evaluation, ranking, iv_surface, store, pipeline)


def _asset_args(market: Market, name: str, deps: list, code_version: str, *tables: str, **extra) -> dict:
    return dict(
        key=keys.market_asset(market, name), partitions_def=market_partitions(market.code),
        backfill_policy=dg.BackfillPolicy.single_run(), deps=deps, group_name=f"{market.code}_options",
        kinds={"postgres", "python"}, owners=OWNERS, code_version=code_version,
        tags=market_tags(market, per_partition=True), metadata=_writes(*tables), **extra,
    )


def _json(value: object) -> object:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def _attach(context: dg.AssetExecutionContext, report: pipeline.OptionsReport) -> None:
    frame = pd.DataFrame([{"symbol": p.symbol, "session_date": p.session_date, "rows": p.rows, "note": p.note,
                           "figures": p.figures} for p in report.partitions])
    if frame.empty:
        return

    def figures(row) -> dict:
        meta: dict[str, object] = {"dagster/row_count": int(row.rows)}
        if row.note:
            meta["note"] = row.note
        for k, v in row.figures.items():
            if k == "snapshot_ts":
                meta[k] = timestamp(v)
            elif isinstance(v, dict | list):
                meta[k] = dg.MetadataValue.json({str(a): _json(b) for a, b in v.items()} if isinstance(v, dict) else v)
            elif isinstance(v, bool) or v is None:
                meta[k] = str(v)
            else:
                meta[k] = _json(v)
        return meta

    add_partition_metadata(context, frame, figures)


def _run_metadata(report: pipeline.OptionsReport, conn, table: str) -> dict[str, object]:
    return {**table_metadata(conn, table), "run/rows_written": report.rows, "run/partitions": len(report.partitions),
            "run/notes": counts_table(report.notes(), "note", "partitions"), "run/seconds": round(report.seconds, 3)}


def build_chain_snapshots(market: Market) -> dg.AssetsDefinition:
    key = keys.options_chain_snapshots(market)
    quality = dg.AssetCheckSpec("chain_quality", asset=key, description=(
        "Contracts of the run's snapshots quarantined for a data fault (crossed quotes, negative prices, "
        "expired, strike or IV out of range, conflicting duplicates): WARN on any, ERROR above 5%."))

    @dg.asset(**_asset_args(market, "options_chain_snapshots", [keys.ohlc_bars(market)], SNAPSHOT_CODE_VERSION,
                            "options.options_chain_snapshots", "ops.option_chain_quarantine"),
              pool=PROVIDER_POOL, check_specs=[quality])
    def options_chain_snapshots(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                                market_data: MarketDataResource) -> dg.MaterializeResult:
        """The option chain of each underlying (options.options_chain_snapshots): OCC contract, expiry, strike,
        side, bid, ask, mark, last, volume, open interest, IV and greeks (delta, gamma, theta per day, vega and
        rho per point), underlying price and snapshot time. A closed session's partition takes the closing
        snapshot ('close'); the session that trades now takes one at run time ('intraday', every intraday
        run adds one). Every contract is stored or quarantined with its reason (ops.option_chain_quarantine).
        IV and greeks the provider lacks are solved: Black-Scholes-Merton on the put-call parity forward.
        A provider that keeps no history (Alpaca) gives no rows for past days: the partition says so;
        backfill from vendor files (SWIFTBOLT_PROVIDER=files, options/)."""
        by_symbol, symbol_ids = partition_symbols(context, warehouse, market)
        provider = market_data.get_provider()
        with warehouse.transaction() as conn:
            report = pipeline.take_snapshots(conn, provider, market.code, by_symbol, symbol_ids, clock.utc_now(),
                                             context.run_id)
        _attach(context, report)
        received = sum(p.figures.get("received", 0) for p in report.partitions)
        faults = sum(p.figures.get("quarantine_faults", 0) for p in report.partitions)
        reasons: dict[str, int] = {}
        for p in report.partitions:
            for r, n in p.figures.get("rejected_by_reason", {}).items():
                reasons[r] = reasons.get(r, 0) + n
        share = faults / received if received else 0.0
        check = dg.AssetCheckResult(
            check_name="chain_quality", passed=faults == 0,
            severity=dg.AssetCheckSeverity.ERROR if share > FAULT_ERROR_SHARE else dg.AssetCheckSeverity.WARN,
            description=(f"{faults} of {received} contracts quarantined for data faults ({share:.2%})" if faults
                         else f"no data fault in {received} contracts"),
            metadata={"rejected_by_reason": counts_table(reasons, "reason"), "fault_share": share})
        with warehouse.connection() as conn:
            meta = _run_metadata(report, conn, "options.options_chain_snapshots")
        return dg.MaterializeResult(metadata={**meta, "provider": provider.name, "run/received": received,
                                              "run/rejected_by_reason": counts_table(reasons, "reason")},
                                    check_results=[check])

    return options_chain_snapshots


def build_iv_history(market: Market) -> dg.AssetsDefinition:
    key = keys.iv_history(market)
    present = dg.AssetCheckSpec("atm_iv_present", asset=key, description=(
        "Every partition with a chain snapshot has a 30-day ATM IV (WARN when not: no expiry brackets the "
        "money, or no two-sided quote near it)."))

    @dg.asset(**_asset_args(market, "iv_history", [keys.options_chain_snapshots(market), keys.ohlc_bars(market)],
                            IV_CODE_VERSION, "options.iv_history"), check_specs=[present])
    def iv_history(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """The day's IV summary per underlying (options.iv_history) from its latest snapshot of D: ATM IV at a
        constant 30-day maturity (linear in total variance between expiries), call and put ATM IV, 25-delta
        skew, term slope, IV min/max/median, HV20/HV60 of the adjusted daily closes up to D, and IV rank and
        percentile over 252 sessions (history_complete = false while fewer are stored)."""
        by_symbol, symbol_ids = partition_symbols(context, warehouse, market)
        with warehouse.transaction() as conn:
            report = pipeline.build_iv_history(conn, by_symbol, symbol_ids, context.run_id)
        _attach(context, report)
        written = [p for p in report.partitions if p.rows]
        missing = [f"{p.symbol} {p.session_date}" for p in written if p.figures.get("atm_iv_30d") is None
                   or p.figures["atm_iv_30d"] != p.figures["atm_iv_30d"]]
        check = dg.AssetCheckResult(
            check_name="atm_iv_present", passed=not missing, severity=dg.AssetCheckSeverity.WARN,
            description=(f"{len(missing)} of {len(written)} partitions without a 30-day ATM IV: "
                         f"{', '.join(missing[:10])}"
                         if missing else f"all {len(written)} partitions with a snapshot have a 30-day ATM IV"))
        with warehouse.connection() as conn:
            meta = _run_metadata(report, conn, "options.iv_history")
        return dg.MaterializeResult(metadata=meta, check_results=[check])

    return iv_history


def build_options_ranks(market: Market) -> dg.AssetsDefinition:
    key = keys.options_ranks(market)
    complete = dg.AssetCheckSpec("ranks_complete", asset=key, description=(
        "Every contract of the day's snapshot is ranked in both modes, ranks 1..n without gaps (ERROR)."))

    @dg.asset(**_asset_args(market, "options_ranks", [keys.options_chain_snapshots(market), keys.iv_history(market),
                                                      keys.ml_forecasts(market)],
                            RANKS_CODE_VERSION, "options.options_ranks"), check_specs=[complete])
    def options_ranks(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Every contract of the day's snapshot scored (options.options_ranks) per ranking mode (entry: what to
        buy; exit: which held contract to close): liquidity (spread share of mid, open interest, volume),
        value (IV against HV20, against the ensemble forecast's volatility, IV rank), greeks (delta band,
        theta and vega per premium) and alignment with the ensemble forecast of D (model_type 'ensemble',
        forecast_date = D only: no look-ahead) for the contract's side and expiry. Each component is stored
        beside the composite score and the rank (1 = best per underlying, day and mode)."""
        by_symbol, symbol_ids = partition_symbols(context, warehouse, market)
        with warehouse.transaction() as conn:
            report = pipeline.build_ranks(conn, by_symbol, symbol_ids, context.run_id)
        _attach(context, report)
        days = sorted({p.session_date for p in report.partitions})
        with warehouse.connection() as conn:
            bad = conn.execute(
                """SELECT s.ticker, c.snapshot_date::text FROM (
                       SELECT c.underlying_symbol_id, c.snapshot_date, count(DISTINCT c.contract) AS n
                       FROM options.options_chain_snapshots c
                       JOIN (SELECT underlying_symbol_id, snapshot_date, max(snapshot_ts) AS ts
                             FROM options.options_chain_snapshots WHERE underlying_symbol_id = ANY(%(s)s)
                               AND snapshot_date = ANY(%(d)s) GROUP BY 1, 2) l
                         ON l.underlying_symbol_id = c.underlying_symbol_id AND l.snapshot_date = c.snapshot_date
                        AND l.ts = c.snapshot_ts GROUP BY 1, 2) c
                   JOIN market.symbols s ON s.id = c.underlying_symbol_id
                   LEFT JOIN (SELECT underlying_symbol_id, snapshot_date, ranking_mode, count(*) AS n, max(rank) AS m
                              FROM options.options_ranks GROUP BY 1, 2, 3) r
                     ON r.underlying_symbol_id = c.underlying_symbol_id AND r.snapshot_date = c.snapshot_date
                   GROUP BY s.ticker, c.snapshot_date, c.n
                   HAVING count(r.ranking_mode) <> 2 OR bool_or(r.n <> c.n OR r.m <> c.n)""",
                {"s": list(symbol_ids.values()), "d": days}).fetchall()
            meta = _run_metadata(report, conn, "options.options_ranks")
            meta["run/preview"] = row_preview(
                conn, "SELECT s.ticker, r.snapshot_date, r.ranking_mode, r.rank, r.contract, r.composite_score, "
                "r.liquidity_score, r.value_score, r.greeks_score, r.forecast_alignment_score "
                "FROM options.options_ranks r "
                "JOIN market.symbols s ON s.id = r.underlying_symbol_id WHERE r.underlying_symbol_id = ANY(%s) "
                "AND r.snapshot_date = %s AND r.rank <= 3 ORDER BY s.ticker, r.ranking_mode, r.rank",
                (list(symbol_ids.values()), days[-1]), limit=12)
        check = dg.AssetCheckResult(
            check_name="ranks_complete", passed=not bad, severity=dg.AssetCheckSeverity.ERROR,
            description=(f"{len(bad)} partitions not ranked whole: {', '.join(f'{t} {d}' for t, d in bad[:10])}"
                         if bad else "every contract of every snapshot ranked in both modes"))
        return dg.MaterializeResult(metadata=meta, check_results=[check])

    return options_ranks


def build_ranking_evaluations(market: Market) -> dg.AssetsDefinition:
    key = keys.ranking_evaluations(market)
    healthy = dg.AssetCheckSpec("rankings_healthy", asset=key, description=(
        "Every ranking evaluated in the run is healthy: no suspected leakage, stored ranks reproduced from "
        "data cut at the ranking day, mean IC not persistently negative. Fails (WARN) naming each unhealthy "
        "ranking and why; an ops.alerts alert ranking_unhealthy is raised for each."))

    @dg.asset(**_asset_args(market, "ranking_evaluations", [keys.options_ranks(market),
                                                            keys.options_chain_snapshots(market)],
                            EVALUATION_CODE_VERSION, "options.ranking_evaluations"), check_specs=[healthy])
    def ranking_evaluations(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Partition D evaluates the ranks of D - 1 and D - 5 sessions (options.ranking_evaluations), once D's
        chain is stored: rank IC of the composite score against the forward contract return with fills (buy
        at the ask, sell at the bid; mid-to-mid as a second view), mean/std/trend/stability of the daily IC
        over 20 evaluations, top-vs-bottom quintile hit rate with a Wilson interval, calibration by score
        quintile, a leakage check (IC against the return before the ranking ~ 0; ranks recomputed from data cut
        at the ranking day equal the stored ones), a permutation p-value, is_healthy with reasons. Unhealthy
        rankings raise an ops.alerts alert (ranking_unhealthy) and fail the rankings_healthy check."""
        by_symbol, symbol_ids = partition_symbols(context, warehouse, market)
        with warehouse.transaction() as conn:
            report = pipeline.build_evaluations(conn, market.code, by_symbol, symbol_ids, context.run_id)
        _attach(context, report)
        unhealthy = [f"{p.symbol} {p.session_date} {u}" for p in report.partitions
                     for u in p.figures.get("unhealthy", [])]
        evaluated = sum(len(p.figures.get("evaluations", [])) for p in report.partitions)
        check = dg.AssetCheckResult(
            check_name="rankings_healthy", passed=not unhealthy, severity=dg.AssetCheckSeverity.WARN,
            description=(f"{len(unhealthy)} of {evaluated} rankings unhealthy: " + " | ".join(unhealthy[:5])
                         if unhealthy else f"all {evaluated} rankings evaluated in this run are healthy"),
            metadata={"unhealthy": markdown_table(pd.DataFrame({"ranking": unhealthy}))})
        for line in unhealthy:
            context.log.warning(f"unhealthy ranking: {line}")
        with warehouse.connection() as conn:
            meta = _run_metadata(report, conn, "options.ranking_evaluations")
        return dg.MaterializeResult(metadata={**meta, "run/evaluations": evaluated, "run/unhealthy": len(unhealthy)},
                                    check_results=[check])

    return ranking_evaluations


def build_assets(market: Market) -> list[dg.AssetsDefinition]:
    """The options domain of a market with listed options; nothing for the others (crypto)."""
    if not market.has_options:
        return []
    return [build_chain_snapshots(market), build_iv_history(market), build_options_ranks(market),
            build_ranking_evaluations(market)]
