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
# The evaluation domain maps trading day x symbol assets to each other and to trading-day assets with
# MultiPartitionMapping and MultiToSingleDimensionPartitionMapping (beta in 1.13, used on purpose: the
# feedback loop's partition edges); their two beta warnings are filtered by exact text too.
for _beta in ("MultiPartitionMapping", "MultiToSingleDimensionPartitionMapping"):
    warnings.filterwarnings("ignore", message=rf"Class `{_beta}` is currently in beta", module="assets.evaluations")
    warnings.filterwarnings("ignore", message=rf"Class `{_beta}` is currently in beta", module="assets.forecasts")

from assets import (  # noqa: E402  (after the warnings filter)
    evaluations,
    features,
    forecasts,
    intraday_forecasts,
    market_data,
    options,
)

MARKET_DOMAINS = (market_data, features, forecasts, evaluations, intraday_forecasts, options)
