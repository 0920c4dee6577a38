"""Reference data: the symbol universe and the market calendars."""

import datetime as dt

import dagster as dg
import pandas as pd

from assets import keys, teams
from assets.failures import one_line_failures
from assets.metadata import markdown_table, table_metadata, writes_tables
from resources import MarketDataResource, WarehouseResource
from swiftbolt import universe
from swiftbolt.calendars import sessions, store
from swiftbolt.calendars.store import write_market_calendar
from swiftbolt.code_version import source_version
from swiftbolt.markets import MARKETS
from swiftbolt.settings import history_start
from swiftbolt.universe import load_universe, sync_universe, universe_file

OWNERS = teams.DATA_ENGINEERING

@dg.asset(
    key=keys.SYMBOLS,
    group_name="reference",
    kinds={"postgres", "python"},
    owners=OWNERS,
    code_version=source_version(universe),
    metadata=writes_tables("market.symbols"),
)
def symbols(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, market_data: MarketDataResource
) -> dg.MaterializeResult:
    """The symbol universe (market.symbols), synced from the universe YAML file
    (SWIFTBOLT_UNIVERSE_FILE). New tickers are inserted, removed ones deactivated (history kept).
    Every ticker is validated against its market's pattern before it reaches SQL."""
    with one_line_failures("market/symbols"):
        specs = load_universe()
        with warehouse.transaction() as conn:
            result = sync_universe(conn, specs, primary_source=market_data.provider_name())
            table = table_metadata(conn, "market.symbols")
    context.log.info(
        f"universe: {result.active} active, inserted {result.inserted}, deactivated {result.deactivated}"
    )
    return dg.MaterializeResult(
        metadata={
            **table,
            "dagster/row_count": result.active,
            "active_symbols": result.active,
            "inserted": dg.MetadataValue.json(result.inserted),
            "reactivated": dg.MetadataValue.json(result.reactivated),
            "deactivated": dg.MetadataValue.json(result.deactivated),
            "universe_file": str(universe_file()),
            "by_market": dg.MetadataValue.json(
                {m: [s.ticker for s in specs if s.market == m] for m in MARKETS}
            ),
            "symbols": markdown_table(
                pd.DataFrame([(s.ticker, s.market) for s in specs], columns=["ticker", "market"]),
                max_rows=50,
            ),
        }
    )

@dg.asset(
    key=keys.MARKET_CALENDAR,
    group_name="reference",
    kinds={"postgres", "python"},
    owners=OWNERS,
    code_version=source_version(sessions, store),
    metadata=writes_tables("market.market_calendar"),
)
def market_calendar(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Sessions per market (market.market_calendar) from the history start
    (SWIFTBOLT_HISTORY_START) to one year ahead: US equities from exchange-calendars' XNYS
    (holidays, early closes, DST), crypto every day around the clock. Closed days are rows too."""
    start = history_start()
    end = dt.date.today() + dt.timedelta(days=366)
    stats: dict[str, dict[str, int]] = {}
    with warehouse.transaction() as conn:
        for market in MARKETS.values():
            stats[market.code] = write_market_calendar(conn, market.code, start, end, market.calendar_source)
        table = table_metadata(conn, "market.market_calendar")
    context.log.info(f"calendar {start}..{end}: {stats}")
    return dg.MaterializeResult(
        metadata={
            **table,
            "first_date": str(start),
            "last_date": str(end),
            "sessions": dg.MetadataValue.json(stats),
        }
    )


def build_assets() -> list[dg.AssetsDefinition]:
    """The reference domain (market-wide, not per market)."""
    return [symbols, market_calendar]
