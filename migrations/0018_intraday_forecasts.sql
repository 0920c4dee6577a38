-- Intraday forecasts (issue 13): 15-minute and 1-hour horizons counted in m15 bars ('15m' = the next
-- bar, '1h' = four bars), issued at the end of each m15 bar while the market is open, with a path (one
-- point per m15 step) and their evaluations when they expire. Forecasts never enter market.ohlc_bars.

-- The pooled intraday models live beside the daily ones in ml.ml_model_versions. A model with training
-- end T learnt from m15 bars of sessions <= T whose label bar had ended by T's close, so its last sample
-- may be of T itself (a daily model's last sample is h sessions before T).
ALTER TABLE ml.ml_model_versions
    DROP CONSTRAINT ml_model_versions_horizon_check,
    ADD CONSTRAINT ml_model_versions_horizon_check CHECK (horizon IN ('1D', '5D', '10D', '20D', '15m', '1h')),
    DROP CONSTRAINT model_versions_horizon_sessions,
    ADD CONSTRAINT model_versions_horizon_sessions CHECK (
        horizon_sessions = CASE horizon WHEN '1D' THEN 1 WHEN '5D' THEN 5 WHEN '10D' THEN 10 WHEN '20D' THEN 20
                                        WHEN '15m' THEN 1 WHEN '1h' THEN 4 END),
    DROP CONSTRAINT model_versions_window,
    ADD CONSTRAINT model_versions_window CHECK (
        train_start <= last_sample_date
        AND (last_sample_date < train_end OR (horizon IN ('15m', '1h') AND last_sample_date <= train_end)));
-- a training run is of the daily models (d1 feature rows) or of the intraday ones (m15)
ALTER TABLE ml.training_runs
    ADD COLUMN timeframe text NOT NULL DEFAULT 'd1' CHECK (timeframe IN ('d1', 'm15'));

COMMENT ON COLUMN ml.ml_model_versions.horizon_sessions IS
    'the horizon in sessions (daily horizons) or in m15 bars (intraday horizons 15m, 1h)';

-- One forecast per (symbol, horizon, issue time, model type). issued_at = the end of the m15 bar the
-- forecast is made at (= the time it could first be known); session_date = that bar's session (the
-- partition). A re-run of the same tick replaces exactly the rows of its issue time.
CREATE TABLE ml.ml_forecasts_intraday (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    symbol_id         bigint      NOT NULL REFERENCES market.symbols (id),
    session_date      date        NOT NULL,
    timeframe         text        NOT NULL DEFAULT 'm15' CHECK (timeframe = 'm15'),
    horizon           text        NOT NULL CHECK (horizon IN ('15m', '1h')),
    horizon_steps     integer     NOT NULL,
    bar_ts            timestamptz NOT NULL,     -- start of the m15 bar the forecast is made at
    issued_at         timestamptz NOT NULL,     -- its end
    expires_at        timestamptz NOT NULL,     -- end of the bar horizon_steps bars later (market time)
    model_type        text        NOT NULL CHECK (model_type IN ('lightgbm')),
    base_close        double precision NOT NULL CHECK (base_close > 0),
    forecast_return   double precision NOT NULL,
    return_q10        double precision NOT NULL,
    return_q50        double precision NOT NULL,
    return_q90        double precision NOT NULL,
    target_price      double precision NOT NULL CHECK (target_price > 0),
    ci_lower          double precision NOT NULL CHECK (ci_lower > 0),
    ci_upper          double precision NOT NULL,
    ci_level          double precision NOT NULL DEFAULT 0.8 CHECK (ci_level > 0 AND ci_level < 1),
    overall_label     text        NOT NULL CHECK (overall_label IN ('bullish', 'bearish', 'neutral')),
    confidence        double precision NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    prob_up           double precision NOT NULL CHECK (prob_up >= 0 AND prob_up <= 1),
    volatility        double precision NOT NULL CHECK (volatility > 0),   -- m15 log-return sigma at the bar
    neutral_band      double precision NOT NULL CHECK (neutral_band >= 0),
    -- the layers the old system reported beside the model's label
    supertrend_component text     CHECK (supertrend_component IN ('bullish', 'bearish')),
    sr_component      text        CHECK (sr_component IN ('near_support', 'near_resistance', 'mid_range')),
    nearest_support   double precision,         -- of the previous session's S/R levels, traded units
    nearest_resistance double precision,
    ensemble_component text       NOT NULL CHECK (ensemble_component IN ('bullish', 'bearish', 'neutral')),
    layers_agreeing   integer     NOT NULL CHECK (layers_agreeing BETWEEN 0 AND 3),
    model_version     text        NOT NULL,
    model_version_id  bigint      NOT NULL REFERENCES ml.ml_model_versions (id),
    feature_set_hash  text        NOT NULL,
    dagster_run_id    text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT intraday_horizon_steps CHECK (horizon_steps = CASE horizon WHEN '15m' THEN 1 ELSE 4 END),
    CONSTRAINT intraday_issue_order CHECK (bar_ts < issued_at AND issued_at < expires_at),
    CONSTRAINT intraday_quantiles_ordered CHECK (return_q10 <= return_q50 AND return_q50 <= return_q90),
    CONSTRAINT intraday_interval CHECK (ci_lower <= target_price AND target_price <= ci_upper),
    UNIQUE (symbol_id, horizon, issued_at, model_type)
);
CREATE INDEX ml_forecasts_intraday_day_idx ON ml.ml_forecasts_intraday (session_date, symbol_id);
CREATE INDEX ml_forecasts_intraday_latest_idx ON ml.ml_forecasts_intraday (symbol_id, issued_at DESC);

-- The path: one point per m15 step 1..horizon_steps with its interval.
CREATE TABLE ml.ml_forecast_paths_intraday (
    forecast_id       bigint      NOT NULL REFERENCES ml.ml_forecasts_intraday (id) ON DELETE CASCADE,
    step              integer     NOT NULL CHECK (step >= 1 AND step <= 4),
    point_ts          timestamptz NOT NULL,     -- end of the step's m15 bar
    return_q10        double precision NOT NULL,
    return_q50        double precision NOT NULL,
    return_q90        double precision NOT NULL,
    price             double precision NOT NULL CHECK (price > 0),
    lower             double precision NOT NULL CHECK (lower > 0),
    upper             double precision NOT NULL,
    PRIMARY KEY (forecast_id, step),
    CHECK (return_q10 <= return_q50 AND return_q50 <= return_q90),
    CHECK (lower <= price AND price <= upper)
);

-- Evaluation of an expired forecast; evaluation_date = the session of the bar the horizon ends on.
CREATE TABLE ml.ml_forecast_evaluations_intraday (
    forecast_id       bigint      PRIMARY KEY REFERENCES ml.ml_forecasts_intraday (id) ON DELETE CASCADE,
    symbol_id         bigint      NOT NULL REFERENCES market.symbols (id),
    horizon           text        NOT NULL CHECK (horizon IN ('15m', '1h')),
    evaluation_date   date        NOT NULL,
    realized_at       timestamptz NOT NULL,     -- end of the realised bar (= the forecast's expires_at)
    realized_price    double precision NOT NULL CHECK (realized_price > 0),
    realized_return   double precision NOT NULL,  -- log return of adjusted closes, issue bar -> horizon bar
    direction_correct boolean     NOT NULL,
    price_error       double precision NOT NULL,  -- target_price - realized_price
    price_error_pct   double precision NOT NULL,
    inside_interval   boolean     NOT NULL,       -- realized_price within [ci_lower, ci_upper]
    path_inside_band  boolean     NOT NULL,       -- every step's realised close within its point's band
    supertrend_direction_correct boolean,         -- the SuperTrend layer's own call
    sr_containment    boolean,                    -- the realised path stayed between support and resistance
    ensemble_direction_correct boolean NOT NULL,
    dagster_run_id    text,
    evaluated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ml_forecast_evaluations_intraday_day_idx
    ON ml.ml_forecast_evaluations_intraday (evaluation_date, symbol_id);
