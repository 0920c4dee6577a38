"""Dagster assets, one module per domain. A per-market domain module exposes
`build_assets(market: Market)`; add a domain by writing its module and listing it in MARKET_DOMAINS."""

from assets import features, forecasts, market_data

MARKET_DOMAINS = (market_data, features, forecasts)
