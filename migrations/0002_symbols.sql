-- The symbol universe (seed 000 §1). One row per ticker; `market` selects the calendar and the
-- Dagster dynamic partitions the symbol belongs to. The id is a bigint rather than the seed's uuid:
-- it is part of the key of every bar row, where 8 bytes instead of 16 matter at 10^8 rows.
CREATE TABLE market.symbols (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticker          text        NOT NULL UNIQUE,
    market          text        NOT NULL CHECK (market IN ('us_equity', 'crypto')),
    asset_type      text        NOT NULL CHECK (asset_type IN ('stock', 'etf', 'crypto', 'index')),
    primary_source  text        NOT NULL DEFAULT 'synthetic'
                                CHECK (primary_source IN ('synthetic', 'alpaca', 'file')),
    name            text,
    description     text,
    is_active       boolean     NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT symbols_ticker_format CHECK (ticker ~ '^[A-Z][A-Z0-9.]{0,9}(/[A-Z]{2,5})?$'),
    CONSTRAINT symbols_crypto_pair CHECK ((asset_type = 'crypto') = (ticker LIKE '%/%'))
);

CREATE INDEX symbols_market_active_idx ON market.symbols (market) WHERE is_active;

CREATE TRIGGER symbols_touch_updated_at
    BEFORE UPDATE ON market.symbols
    FOR EACH ROW EXECUTE FUNCTION ops.touch_updated_at();
