"""Run by tests/test_sharding.py in a subprocess whose environment configures an extra market
(SWIFTBOLT_EXTRA_MARKETS): loads the code location, materializes the reference assets and both equity
markets' bars into the warehouse given as argv[1], and prints what it found as one JSON line."""

from __future__ import annotations

import json
import sys
import warnings

import dagster as dg

from assets.partitions import symbol_partitions
from definitions import defs
from resources import MarketDataResource, WarehouseResource
from sensors.alerting import run_market
from swiftbolt.db.connection import connect
from swiftbolt.markets import MARKETS

warnings.filterwarnings("ignore")
SHARD = "us_equity_2"


def trading_days(code: str) -> list[str]:
    node = defs.resolve_asset_graph().get(dg.AssetKey([code, "ohlc_bars"]))
    dates = node.partitions_def.partitions_defs[0].partitions_def
    return dates.get_partition_keys_in_range(dg.PartitionKeyRange("2025-01-02", "2025-12-31"))


def job_assets(name: str) -> set[dg.AssetKey]:
    return set(defs.resolve_job_def(name).asset_layer.executable_asset_keys)


def describe() -> dict:
    type(defs).validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    jobs = [j for j in defs.jobs or [] if j.name.startswith(SHARD)]
    return {
        "markets": {c: [m.exchange, m.timezone, m.family, m.has_corporate_actions, m.has_options]
                    for c, m in MARKETS.items()},
        "assets": sorted(k.to_user_string() for k in graph.get_all_asset_keys() if k.path[0] == SHARD),
        "jobs": {j.name: sorted(k.to_user_string() for k in job_assets(j.name)) for j in jobs},
        # the base market's, renamed to the shard: what the shard must have too
        "base_assets": sorted(f"{SHARD}/{k.path[1]}" for k in graph.get_all_asset_keys() if k.path[0] == "us_equity"),
        "base_jobs": {j.name.replace("us_equity", SHARD, 1): sorted(f"{SHARD}/{k.path[1]}" for k in job_assets(j.name)
                                                                    if k.path[0] == "us_equity")
                      for j in defs.jobs or [] if j.name.startswith("us_equity_") and not j.name.startswith(SHARD)},
        "schedules": sorted(s.name for s in defs.schedules or [] if s.name.startswith(SHARD)),
        "sensors": sorted(s.name for s in defs.sensors or [] if s.name.startswith(SHARD)),
        "partitions": {c: graph.get(dg.AssetKey([c, "ohlc_bars"])).partitions_def.partitions_defs[1].partitions_def.name
                       for c in ("us_equity", SHARD)},
        "same_sessions": trading_days("us_equity") == trading_days(SHARD),
        "run_market": run_market(dg.DagsterRun(job_name=f"{SHARD}_daily_job", run_id="x")),
    }


def materialize(url: str) -> dict:
    warehouse = WarehouseResource(database_url=url)
    resources = {"warehouse": warehouse, "market_data": MarketDataResource(provider="synthetic")}
    out: dict = {}
    with dg.instance_for_test() as instance:
        reference = [defs.get_assets_def(dg.AssetKey(["market", k])) for k in ("symbols", "market_calendar")]
        out["reference_ok"] = dg.materialize(reference, resources=resources, instance=instance).success
        sensor = next(s for s in defs.sensors or [] if s.name == f"{SHARD}_symbol_universe_sensor")
        result = sensor(dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse}))
        out["sensor"] = {
            "added": sorted(k for r in result.dynamic_partitions_requests for k in r.partition_keys),
            "partitions_def": result.dynamic_partitions_requests[0].partitions_def_name,
            "run_jobs": sorted({r.job_name or sensor.job_name for r in result.run_requests}),
        }
        for code, symbols in (("us_equity", ["AAPL"]), (SHARD, ["MSFT", "NVDA"])):
            instance.add_dynamic_partitions(symbol_partitions(code).name, symbols)
            bars = dg.materialize(
                [defs.get_assets_def(dg.AssetKey([code, "ohlc_bars"]))], resources=resources, instance=instance,
                tags={"dagster/asset_partition_range_start": f"2025-03-03|{symbols[0]}",
                      "dagster/asset_partition_range_end": f"2025-03-05|{symbols[-1]}"},
            )
            out[f"{code}_run_ok"] = bars.success
    with connect(url) as conn:
        out["bars_by_market"] = {m: sorted(t) for m, t in conn.execute(
            "SELECT s.market, array_agg(DISTINCT s.ticker) FROM market.ohlc_bars b "
            "JOIN market.symbols s ON s.id = b.symbol_id WHERE b.timeframe = 'd1' GROUP BY s.market").fetchall()}
        row = conn.execute("SELECT count(*) FROM market.ohlc_bars WHERE timeframe = 'd1'").fetchone()
        out["d1_bars"] = row[0] if row else None
        out["calendar"] = dict(conn.execute(
            "SELECT market, count(*) FILTER (WHERE is_open) FROM market.market_calendar GROUP BY market").fetchall())
    return out


if __name__ == "__main__":
    print("PROBE" + json.dumps({**describe(), **materialize(sys.argv[1])}))
