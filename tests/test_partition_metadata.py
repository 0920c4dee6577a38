"""What a user reads per partition in the UI: each partition's materialization carries its own figures
(rows by timeframe, first/last bar, checksum, rejected rows), run-wide figures are named `run/...`, and
every asset that writes a table names it and its columns."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from assets.features import build_feature_rows, build_sr_levels, build_supertrend_signals
from assets.market_data import build_ohlc_bars
from assets.partitions import symbol_partitions
from resources import MarketDataResource, WarehouseResource
from swiftbolt.db.connection import connect
from swiftbolt.markets import US_EQUITY
from tests.helpers import add_symbols, markdown_counts

pytestmark = pytest.mark.warehouse

SYMBOLS = ["AAPL", "MSFT"]
DAYS = ["2024-03-04", "2024-03-05", "2024-03-06"]


def _range() -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": dg.MultiPartitionKey({"date": DAYS[0], "symbol": SYMBOLS[0]}),
        "dagster/asset_partition_range_end": dg.MultiPartitionKey({"date": DAYS[-1], "symbol": SYMBOLS[-1]}),
    }


def test_each_partition_carries_its_own_figures(warehouse_url: str) -> None:
    add_symbols(warehouse_url, {s: "us_equity" for s in SYMBOLS})
    resources = {"warehouse": WarehouseResource(database_url=warehouse_url),
                 "market_data": MarketDataResource(provider="synthetic")}
    assets = [build_ohlc_bars(US_EQUITY), build_feature_rows(US_EQUITY), build_sr_levels(US_EQUITY),
              build_supertrend_signals(US_EQUITY)]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(symbol_partitions("us_equity").name, SYMBOLS)
        result = dg.materialize(assets, instance=instance, resources=resources, tags=_range())
        assert result.success
    with connect(warehouse_url) as conn:
        stored = pd.DataFrame(conn.execute(
            "SELECT s.ticker, b.session_date::text, b.timeframe, count(*), min(b.ts), max(b.ts) "
            "FROM market.ohlc_bars b JOIN market.symbols s ON s.id = b.symbol_id "
            "WHERE b.timeframe IN ('m15', 'h1', 'h4', 'd1') GROUP BY 1, 2, 3").fetchall(),
            columns=["symbol", "date", "timeframe", "n", "first", "last"])
        features = dict(((t, d), n) for t, d, n in conn.execute(
            "SELECT s.ticker, f.session_date::text, count(*) FROM ml.feature_rows f "
            "JOIN market.symbols s ON s.id = f.symbol_id GROUP BY 1, 2").fetchall())

    bars = result.asset_materializations_for_node("us_equity__ohlc_bars")
    assert sorted(m.partition for m in bars) == sorted(f"{d}|{s}" for d in DAYS for s in SYMBOLS)
    checksums = set()
    for mat in bars:
        day, symbol = mat.partition.split("|")
        mine = stored[(stored["symbol"] == symbol) & (stored["date"] == day)]
        md = mat.metadata
        assert markdown_counts(md["rows_by_timeframe"]) == dict(zip(mine["timeframe"], mine["n"], strict=True))
        assert md["dagster/row_count"].value == mine["n"].sum()
        assert md["first_bar"].value == pd.Timestamp(mine["first"].min()).timestamp()
        assert md["last_bar"].value == pd.Timestamp(mine["last"].max()).timestamp()
        assert md["rejected_rows"].value == 0
        checksums.add(md["checksum"].value)
        # run-wide figures are named as such, and are the same on every partition
        assert md["run/symbols"].value == len(SYMBOLS) and md["run/partitions"].value == len(DAYS) * len(SYMBOLS)
        assert md["run/rows_written"].value == bars[0].metadata["run/rows_written"].value
        assert md["dagster/table_name"].value == "market.ohlc_bars"
        assert "close" in [c.name for c in md["dagster/column_schema"].schema.columns]
    assert len(checksums) == len(bars)  # each partition's own checksum, not the run's
    # the plot goes to each symbol's newest partition only
    plotted = sorted(m.partition for m in bars if "close_plot" in m.metadata)
    assert plotted == sorted(f"{DAYS[-1]}|{s}" for s in SYMBOLS)

    for mat in result.asset_materializations_for_node("us_equity__feature_rows"):
        day, symbol = mat.partition.split("|")
        assert mat.metadata["dagster/row_count"].value == features[(symbol, day)]
        assert mat.metadata["d1/close"].value > 0
    for node in ("us_equity__sr_levels", "us_equity__supertrend_signals"):
        mats = result.asset_materializations_for_node(node)
        assert len({m.partition for m in mats}) == len(DAYS) * len(SYMBOLS)
        assert all(m.metadata["dagster/table_name"].value.startswith("ml.") for m in mats)


def test_per_partition_metadata_is_attached_in_one_step() -> None:
    """add_partition_metadata writes every partition's figures at once (Dagster's add_asset_metadata re-lists
    the run's range on every call: quadratic in the partitions); each partition still gets its own, and the
    structure it writes to is the one this Dagster release has (else the slow public call would be used)."""
    from dagster._core.execution.context.metadata_logging import OutputMetadataAccumulator  # noqa: F401

    from assets.metadata import add_partition_metadata

    days = dg.StaticPartitionsDefinition(["2025-01-02", "2025-01-03"])
    symbols = dg.StaticPartitionsDefinition(["AAA", "BBB"])
    calls: list[int] = []

    @dg.asset(partitions_def=dg.MultiPartitionsDefinition({"date": days, "symbol": symbols}))
    def figures(context) -> dg.MaterializeResult:
        """Per-partition rows."""
        original = context.add_asset_metadata
        context.add_asset_metadata = lambda *a, **k: (calls.append(1), original(*a, **k))  # type: ignore[method-assign]
        frame = pd.DataFrame({"symbol": ["AAA", "BBB", "AAA", "BBB"],
                              "session_date": pd.to_datetime(["2025-01-02", "2025-01-02", "2025-01-03",
                                                              "2025-01-03"]).date, "rows": [1, 2, 3, 4],
                              "reason": [None, "no bar", None, None]})  # pandas stores NaN for these None
        add_partition_metadata(context, frame, lambda r: {"dagster/row_count": r.rows,
                                                          **({"reason": r.reason} if r.reason else {})})
        return dg.MaterializeResult(metadata={"run/total": 10})

    tags = {"dagster/asset_partition_range_start": "2025-01-02|AAA",
            "dagster/asset_partition_range_end": "2025-01-03|BBB"}
    result = dg.materialize([figures], tags=tags)
    assert result.success and calls == []
    rows = {str(m.partition): (m.metadata["dagster/row_count"].value, m.metadata["run/total"].value)
            for m in (ev.event_specific_data.materialization for ev in result.get_asset_materialization_events())}
    assert rows == {"2025-01-02|AAA": (1, 10), "2025-01-02|BBB": (2, 10), "2025-01-03|AAA": (3, 10),
                    "2025-01-03|BBB": (4, 10)}
    reasons = {str(m.partition): m.metadata["reason"].value for m in (
        ev.event_specific_data.materialization for ev in result.get_asset_materialization_events())
        if "reason" in m.metadata}
    assert reasons == {"2025-01-02|BBB": "no bar"}  # no empty reason where there is none
