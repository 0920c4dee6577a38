"""Every asset key of the code location, in one place. Sensors, jobs, checks and tests name assets
through these; dbt's sources.yml maps its sources to the same keys (tests/test_definitions.py checks
that every source key is an asset defined here)."""

import dagster as dg

from swiftbolt.markets import Market

SYMBOLS = dg.AssetKey(["market", "symbols"])
MARKET_CALENDAR = dg.AssetKey(["market", "market_calendar"])


def market_asset(market: Market | str, name: str) -> dg.AssetKey:
    """The key of a per-market asset: [<market code>, <name>]."""
    return dg.AssetKey([market if isinstance(market, str) else market.code, name])


def ohlc_bars(market: Market | str) -> dg.AssetKey:
    return market_asset(market, "ohlc_bars")


def quotes(market: Market | str) -> dg.AssetKey:
    return market_asset(market, "quotes")


def corporate_actions(market: Market | str) -> dg.AssetKey:
    return market_asset(market, "corporate_actions")


def feature_rows(market: Market | str) -> dg.AssetKey:
    return market_asset(market, "feature_rows")


def sr_levels(market: Market | str) -> dg.AssetKey:
    return market_asset(market, "sr_levels")


def supertrend_signals(market: Market | str) -> dg.AssetKey:
    return market_asset(market, "supertrend_signals")


def forecast_models(market: Market | str) -> dg.AssetKey:
    return market_asset(market, "forecast_models")


def ml_forecasts(market: Market | str) -> dg.AssetKey:
    return market_asset(market, "ml_forecasts")


def options_chain_snapshots(market: Market | str) -> dg.AssetKey:
    return market_asset(market, "options_chain_snapshots")


def iv_history(market: Market | str) -> dg.AssetKey:
    return market_asset(market, "iv_history")


def options_ranks(market: Market | str) -> dg.AssetKey:
    return market_asset(market, "options_ranks")


def ranking_evaluations(market: Market | str) -> dg.AssetKey:
    return market_asset(market, "ranking_evaluations")
