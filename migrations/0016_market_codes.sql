-- Markets are configuration, not a fixed list: besides us_equity and crypto, SWIFTBOLT_EXTRA_MARKETS adds
-- shards of a universe (e.g. us_equity_2, sharing the NYSE calendar) with their own symbols and partitions
-- (swiftbolt/markets.py). The code's shape is still enforced; which codes exist is the code location's
-- business (an unknown market is refused there before it reaches SQL).
ALTER TABLE market.symbols
    DROP CONSTRAINT symbols_market_check,
    ADD CONSTRAINT symbols_market_code CHECK (market ~ '^[a-z][a-z0-9_]{1,30}$');

ALTER TABLE market.market_calendar
    DROP CONSTRAINT market_calendar_market_check,
    ADD CONSTRAINT market_calendar_market_code CHECK (market ~ '^[a-z][a-z0-9_]{1,30}$');

ALTER TABLE ops.alerts
    DROP CONSTRAINT alerts_market_check,
    ADD CONSTRAINT alerts_market_code CHECK (market ~ '^[a-z][a-z0-9_]{1,30}$');
