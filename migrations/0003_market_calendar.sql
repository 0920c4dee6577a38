-- Sessions per market (seed 000 §1 "market_calendar"). Closed days are rows too (is_open = false),
-- so "was the market open on D?" is a lookup, not an absence.
CREATE TABLE market.market_calendar (
    market          text        NOT NULL CHECK (market IN ('us_equity', 'crypto')),
    date            date        NOT NULL,
    is_open         boolean     NOT NULL,
    open_utc        timestamptz,
    close_utc       timestamptz,
    is_early_close  boolean     NOT NULL DEFAULT false,
    source          text        NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (market, date),
    CONSTRAINT market_calendar_session_times CHECK (
        (is_open AND open_utc IS NOT NULL AND close_utc > open_utc)
        OR (NOT is_open AND open_utc IS NULL AND close_utc IS NULL AND NOT is_early_close)
    )
);

CREATE INDEX market_calendar_open_sessions_idx ON market.market_calendar (market, date) WHERE is_open;
