"""Reference data: the symbol universe and the market calendars."""

import datetime as dt

import dagster as dg

from assets.failures import one_line_failures
from resources import MarketDataResource, WarehouseResource
from swiftbolt.calendars import MARKETS
from swiftbolt.market_calendar import write_market_calendar
from swiftbolt.settings import history_start
from swiftbolt.universe import load_universe, sync_universe, universe_file

OWNERS = ["team:data-engineering"]

@dg.asset(
    key=["market", "symbols"],
    group_name="reference",
    kinds={"postgres", "python"},
    owners=OWNERS,
    code_version="1",
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
    context.log.info(
        f"universe: {result.active} active, inserted {result.inserted}, deactivated {result.deactivated}"
    )
    return dg.MaterializeResult(
        metadata={
            "active_symbols": result.active,
            "inserted": dg.MetadataValue.json(result.inserted),
            "reactivated": dg.MetadataValue.json(result.reactivated),
            "deactivated": dg.MetadataValue.json(result.deactivated),
            "universe_file": str(universe_file()),
            "by_market": dg.MetadataValue.json(
                {m: [s.ticker for s in specs if s.market == m] for m in MARKETS}
            ),
        }
    )

@dg.asset(
    key=["market", "market_calendar"],
    group_name="reference",
    kinds={"postgres", "python"},
    owners=OWNERS,
    code_version="1",
)
def market_calendar(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Sessions per market (market.market_calendar) from the history start
    (SWIFTBOLT_HISTORY_START) to one year ahead: US equities from exchange-calendars' XNYS
    (holidays, early closes, DST), crypto every day around the clock. Closed days are rows too."""
    start = history_start()
    end = dt.date.today() + dt.timedelta(days=366)
    stats: dict[str, dict[str, int]] = {}
    with warehouse.transaction() as conn:
        for market in MARKETS:
            source = "exchange_calendars:XNYS" if market == "us_equity" else "24x7"
            stats[market] = write_market_calendar(conn, market, start, end, source)
    context.log.info(f"calendar {start}..{end}: {stats}")
    return dg.MaterializeResult(
        metadata={
            "first_date": str(start),
            "last_date": str(end),
            "sessions": dg.MetadataValue.json(stats),
        }
    )
