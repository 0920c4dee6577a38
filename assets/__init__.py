"""Dagster assets, one module per domain. A per-market domain module exposes
`build_assets(market: Market)`; add a domain by writing its module and listing it in MARKET_DOMAINS."""

import warnings

# The partitioned assets take `backfill_policy=BackfillPolicy.single_run()` (one run per range of days, the
# design's cheap backfills). Dagster 1.13 marks that parameter of `@asset` beta and warns at every load of the
# code location (8 warnings: 4 assets x 2 markets). The feature is used on purpose, so this one warning is
# filtered, by its exact text; every other BetaWarning and Dagster warning still shows.
warnings.filterwarnings(
    "ignore", message=r"Parameter `backfill_policy` of function `asset` is currently in beta", module="dagster"
)

from assets import features, forecasts, market_data, options  # noqa: E402  (after the warnings filter)

MARKET_DOMAINS = (market_data, features, forecasts, options)
