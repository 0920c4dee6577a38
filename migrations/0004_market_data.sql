-- Market data (seed 000 §2, §3, §11): one bar table for every timeframe, lineage of what was
-- ingested, corporate actions with adjustment factors, latest quotes, and a quarantine for bad rows.

-- Ingestion attempts: one row per asset run and provider (replaces the old job tables' lineage role).
CREATE TABLE market.ingestion_runs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider        text        NOT NULL,
    feed            text,
    dagster_run_id  text,
    dagster_root_run_id text,   -- the first run of a retry chain: retries resume from its checkpoints
    partition_range text,
    code_version    text        NOT NULL,
    status          text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'success', 'failed')),
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    rows_written    bigint      NOT NULL DEFAULT 0,
    rows_rejected   bigint      NOT NULL DEFAULT 0,
    error           text,
    CHECK (finished_at IS NULL OR finished_at >= started_at)
);

-- Raw, unadjusted bars of every timeframe. `ts` is the start of the bar's interval (UTC); a daily bar
-- has ts = session date 00:00 UTC. `session_date` is the trading day the bar belongs to (exchange-local
-- date), i.e. the Dagster date partition. Range-partitioned by month of ts (partitions are created by
-- market.ensure_bar_partitions as data arrives).
CREATE TABLE market.ohlc_bars (
    symbol_id        bigint      NOT NULL REFERENCES market.symbols (id),
    timeframe        text        NOT NULL CHECK (timeframe IN ('m1', 'm5', 'm15', 'h1', 'h4', 'd1', 'w1', 'mo1')),
    ts               timestamptz NOT NULL,
    session_date     date        NOT NULL,
    open             double precision NOT NULL,
    high             double precision NOT NULL,
    low              double precision NOT NULL,
    close            double precision NOT NULL,
    volume           double precision NOT NULL,
    vwap             double precision,
    trade_count      bigint,
    provider         text        NOT NULL,
    ingestion_run_id bigint      NOT NULL,
    PRIMARY KEY (symbol_id, timeframe, ts),
    CONSTRAINT ohlc_bars_positive CHECK (low > 0 AND open > 0 AND close > 0),
    CONSTRAINT ohlc_bars_range CHECK (high >= low AND high >= open AND high >= close AND low <= open AND low <= close),
    CONSTRAINT ohlc_bars_volume CHECK (volume >= 0 AND (trade_count IS NULL OR trade_count >= 0))
) PARTITION BY RANGE (ts);

-- Partition replacement deletes by (symbol, timeframe, session_date).
CREATE INDEX ohlc_bars_session_idx ON market.ohlc_bars (symbol_id, timeframe, session_date);

CREATE OR REPLACE FUNCTION market.ensure_bar_partitions(first_ts timestamptz, last_ts timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    month_start date := date_trunc('month', first_ts AT TIME ZONE 'UTC')::date;
    created integer := 0;
    part text;
BEGIN
    -- serialise concurrent writers creating the same month
    PERFORM pg_advisory_xact_lock(hashtext('market.ohlc_bars partitions'));
    WHILE month_start <= (last_ts AT TIME ZONE 'UTC')::date LOOP
        part := format('ohlc_bars_%s', to_char(month_start, 'YYYY_MM'));
        IF to_regclass(format('market.%I', part)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE market.%I PARTITION OF market.ohlc_bars FOR VALUES FROM (%L) TO (%L)',
                part,
                (month_start::timestamp AT TIME ZONE 'UTC'),
                ((month_start + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
            created := created + 1;
        END IF;
        month_start := (month_start + interval '1 month')::date;
    END LOOP;
    RETURN created;
END;
$$;

-- A coherent bar set per symbol, timeframe and trading day: what was written, when, by which run.
CREATE TABLE market.bar_datasets (
    symbol_id        bigint      NOT NULL REFERENCES market.symbols (id),
    timeframe        text        NOT NULL,
    session_date     date        NOT NULL,
    provider         text        NOT NULL,
    start_ts         timestamptz,
    end_ts           timestamptz,
    as_of_ts         timestamptz NOT NULL DEFAULT now(),
    bar_count        integer     NOT NULL CHECK (bar_count >= 0),
    rejected_count   integer     NOT NULL DEFAULT 0 CHECK (rejected_count >= 0),
    checksum         text        NOT NULL,
    status           text        NOT NULL DEFAULT 'live' CHECK (status IN ('live', 'verified', 'frozen')),
    ingestion_run_id bigint      NOT NULL REFERENCES market.ingestion_runs (id),
    PRIMARY KEY (symbol_id, timeframe, session_date)
);

CREATE TABLE market.coverage_status (
    symbol_id         bigint      NOT NULL REFERENCES market.symbols (id),
    timeframe         text        NOT NULL,
    from_ts           timestamptz NOT NULL,
    to_ts             timestamptz NOT NULL,
    last_success_at   timestamptz NOT NULL,
    last_rows_written bigint      NOT NULL,
    last_provider     text        NOT NULL,
    PRIMARY KEY (symbol_id, timeframe),
    CHECK (to_ts >= from_ts)
);

-- Where a provider's fetch for a symbol/timeframe got to: a retried run resumes after last_session.
CREATE TABLE market.provider_checkpoints (
    provider      text        NOT NULL,
    symbol_id     bigint      NOT NULL REFERENCES market.symbols (id),
    timeframe     text        NOT NULL,
    last_session  date        NOT NULL,
    last_ts       timestamptz,
    bars_written  bigint      NOT NULL DEFAULT 0,
    ingestion_run_id bigint   NOT NULL REFERENCES market.ingestion_runs (id),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, symbol_id, timeframe)
);

-- Rows that failed validation, with the reason; never in ohlc_bars.
CREATE TABLE ops.bar_quarantine (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    symbol_id        bigint      NOT NULL REFERENCES market.symbols (id),
    timeframe        text        NOT NULL,
    session_date     date,
    ts               text,
    provider         text        NOT NULL,
    reason           text        NOT NULL,
    raw              jsonb       NOT NULL,
    ingestion_run_id bigint      NOT NULL REFERENCES market.ingestion_runs (id),
    quarantined_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bar_quarantine_partition_idx ON ops.bar_quarantine (symbol_id, session_date);

-- Splits, reverse splits and cash dividends as events. Raw bars are never rewritten.
CREATE TABLE market.corporate_actions (
    symbol_id     bigint      NOT NULL REFERENCES market.symbols (id),
    action_type   text        NOT NULL CHECK (action_type IN ('split', 'reverse_split', 'cash_dividend')),
    ex_date       date        NOT NULL,
    record_date   date,
    payment_date  date,
    ratio         double precision CHECK (ratio > 0),       -- new shares per old share
    cash_amount   double precision CHECK (cash_amount > 0), -- per share, in the quote currency
    provider      text        NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol_id, action_type, ex_date),
    CHECK ((action_type = 'cash_dividend') = (cash_amount IS NOT NULL)),
    CHECK ((action_type <> 'cash_dividend') = (ratio IS NOT NULL))
);

-- One multiplicative factor per event: bars on sessions before ex_date are multiplied by it.
-- Splits: 1/ratio (volume by ratio). Dividends: 1 - cash / previous raw close (CRSP convention).
CREATE VIEW market.adjustment_factors AS
SELECT ca.symbol_id,
       ca.ex_date,
       ca.action_type,
       CASE WHEN ca.action_type = 'cash_dividend'
            THEN 1.0 - ca.cash_amount / prev.close
            ELSE 1.0 / ca.ratio END AS price_factor,
       CASE WHEN ca.action_type = 'cash_dividend' THEN 1.0 ELSE ca.ratio END AS volume_factor
FROM market.corporate_actions ca
LEFT JOIN LATERAL (
    SELECT b.close FROM market.ohlc_bars b
    WHERE b.symbol_id = ca.symbol_id AND b.timeframe = 'd1' AND b.session_date < ca.ex_date
    ORDER BY b.session_date DESC LIMIT 1
) prev ON true
WHERE ca.action_type <> 'cash_dividend' OR prev.close > ca.cash_amount;

-- Split- and dividend-adjusted bars, derived on read from raw bars and the factors above.
CREATE VIEW market.ohlc_bars_adjusted AS
SELECT b.symbol_id, b.timeframe, b.ts, b.session_date,
       b.open * f.price_factor  AS open,
       b.high * f.price_factor  AS high,
       b.low * f.price_factor   AS low,
       b.close * f.price_factor AS close,
       b.volume * f.volume_factor AS volume,
       b.vwap * f.price_factor  AS vwap,
       f.price_factor AS adjustment_factor
FROM market.ohlc_bars b
CROSS JOIN LATERAL (
    SELECT COALESCE(exp(sum(ln(af.price_factor))), 1.0) AS price_factor,
           COALESCE(exp(sum(ln(af.volume_factor))), 1.0) AS volume_factor
    FROM market.adjustment_factors af
    WHERE af.symbol_id = b.symbol_id AND af.ex_date > b.session_date
) f;

-- Latest quote per symbol, refreshed intraday.
CREATE TABLE market.quotes (
    symbol_id   bigint      PRIMARY KEY REFERENCES market.symbols (id),
    ts          timestamptz NOT NULL,
    last        double precision NOT NULL CHECK (last > 0),
    bid         double precision CHECK (bid > 0),
    ask         double precision CHECK (ask > 0),
    day_high    double precision,
    day_low     double precision,
    prev_close  double precision,
    provider    text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (bid IS NULL OR ask IS NULL OR ask >= bid)
);
