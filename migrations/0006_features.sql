-- Features (seed 000 §5, §8): feature set definitions, feature rows, support/resistance levels and
-- SuperTrend signals, all computed from split- and dividend-adjusted bars.

-- One row per feature definition version; old feature rows stay attributable to their definition.
CREATE TABLE ml.feature_sets (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text        NOT NULL,
    definition_hash text        NOT NULL UNIQUE,
    code_version    text        NOT NULL,
    feature_keys    text[]      NOT NULL,
    params          jsonb       NOT NULL,
    warmup_bars     integer     NOT NULL CHECK (warmup_bars >= 0),
    status          text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'superseded')),
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Feature values per bar; `features` holds the feature set's keys. warmup_complete = false marks
-- the first bars of a symbol's history that had too little history for exact values.
CREATE TABLE ml.feature_rows (
    symbol_id        bigint      NOT NULL REFERENCES market.symbols (id),
    timeframe        text        NOT NULL CHECK (timeframe IN ('m15', 'h1', 'd1')),
    ts               timestamptz NOT NULL,
    session_date     date        NOT NULL,
    feature_set_id   bigint      NOT NULL REFERENCES ml.feature_sets (id),
    warmup_complete  boolean     NOT NULL,
    features         jsonb       NOT NULL,
    PRIMARY KEY (symbol_id, timeframe, feature_set_id, ts)
);
CREATE INDEX feature_rows_session_idx ON ml.feature_rows (symbol_id, timeframe, session_date);

-- Support/resistance per symbol and trading day (daily bars), seed 000 §8.
CREATE TABLE ml.sr_levels (
    symbol_id           bigint      NOT NULL REFERENCES market.symbols (id),
    session_date        date        NOT NULL,
    close               double precision NOT NULL,
    pivot_pp            double precision, pivot_r1 double precision, pivot_r2 double precision,
    pivot_r3            double precision, pivot_s1 double precision, pivot_s2 double precision,
    pivot_s3            double precision,
    fib_levels          jsonb,
    zigzag_swings       jsonb,
    cluster_levels      jsonb,
    nearest_support     double precision,
    support_distance_pct double precision,
    support_strength    integer,
    nearest_resistance  double precision,
    resistance_distance_pct double precision,
    resistance_strength integer,
    computed_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol_id, session_date)
);

-- SuperTrend flips and their resolution (WIN/LOSS/OPEN), updated as later bars arrive.
CREATE TABLE ml.supertrend_signals (
    symbol_id     bigint      NOT NULL REFERENCES market.symbols (id),
    timeframe     text        NOT NULL,
    signal_ts     timestamptz NOT NULL,
    side          text        NOT NULL CHECK (side IN ('BUY', 'SELL')),
    entry_price   double precision NOT NULL CHECK (entry_price > 0),
    stop_price    double precision NOT NULL CHECK (stop_price > 0),
    target_price  double precision NOT NULL CHECK (target_price > 0),
    outcome       text        NOT NULL CHECK (outcome IN ('WIN', 'LOSS', 'OPEN')),
    exit_price    double precision,
    exit_ts       timestamptz,
    pnl_pct       double precision,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol_id, timeframe, signal_ts),
    CHECK ((outcome = 'OPEN') = (exit_ts IS NULL))
);
