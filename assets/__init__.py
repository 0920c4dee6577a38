"""Dagster assets, one module per domain."""

import warnings

# The partitioned assets take `backfill_policy=BackfillPolicy.single_run()` (one run per range of days, the
# design's cheap backfills). Dagster 1.13 marks that parameter of `@asset` beta and warns at every load of the
# code location (8 warnings: 4 assets x 2 markets). The feature is used on purpose, so this one warning is
# filtered, by its exact text; every other BetaWarning and Dagster warning still shows.
warnings.filterwarnings(
    "ignore", message=r"Parameter `backfill_policy` of function `asset` is currently in beta", module="dagster"
)
