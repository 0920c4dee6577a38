-- Daily forecasts (issue 11): stored models, training runs, forecasts with their paths, and the ensemble
-- weights table the evaluation domain (issue 12) writes. Horizons are named as the old system named them
-- ('1D','5D','10D','20D') and counted in sessions of the market's calendar.

-- One training of a market's models for one training end (the asset <market>/forecast_models).
CREATE TABLE ml.training_runs (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    market            text        NOT NULL CHECK (market IN ('us_equity', 'crypto')),
    model_type        text        NOT NULL CHECK (model_type IN ('lightgbm')),
    train_end         date        NOT NULL,
    partition_key     text,
    dagster_run_id    text,
    feature_set_id    bigint      REFERENCES ml.feature_sets (id),
    n_symbols         integer     NOT NULL CHECK (n_symbols >= 0),
    n_samples         integer     NOT NULL CHECK (n_samples >= 0),
    status            text        NOT NULL CHECK (status IN ('trained', 'partial', 'skipped')),
    reasons           jsonb       NOT NULL DEFAULT '{}'::jsonb,   -- horizon -> why no model
    validation        jsonb       NOT NULL DEFAULT '{}'::jsonb,   -- out-of-sample figures vs baselines
    started_at        timestamptz NOT NULL,
    finished_at       timestamptz NOT NULL,
    CHECK (finished_at >= started_at)
);
CREATE INDEX training_runs_market_end_idx ON ml.training_runs (market, train_end);

-- A model is data: one row per (type, market, horizon, training end), with the serialized model.
-- LightGBM: one booster per quantile, model_texts[i] is the LightGBM text model of quantiles[i];
-- sha256 is over the canonical bundle (see swiftbolt/forecasts/lightgbm_models.py) and is the
-- model_version of every forecast the model produced.
CREATE TABLE ml.ml_model_versions (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_type        text        NOT NULL CHECK (model_type IN ('lightgbm')),
    market            text        NOT NULL CHECK (market IN ('us_equity', 'crypto')),
    horizon           text        NOT NULL CHECK (horizon IN ('1D', '5D', '10D', '20D')),
    horizon_sessions  integer     NOT NULL,
    train_start       date        NOT NULL,     -- first sample date
    train_end         date        NOT NULL,     -- last session whose data the model saw
    last_sample_date  date        NOT NULL,     -- <= train_end - horizon sessions (purged gap)
    n_samples         integer     NOT NULL CHECK (n_samples > 0),
    n_symbols         integer     NOT NULL CHECK (n_symbols > 0),
    n_features        integer     NOT NULL CHECK (n_features > 0),
    feature_names     text[]      NOT NULL,
    feature_set_id    bigint      NOT NULL REFERENCES ml.feature_sets (id),
    feature_set_hash  text        NOT NULL,
    parameters        jsonb       NOT NULL,
    quantiles         double precision[] NOT NULL,
    model_texts       text[]      NOT NULL,
    sha256            text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    feature_importance jsonb      NOT NULL DEFAULT '{}'::jsonb,
    validation        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    training_run_id   bigint      NOT NULL REFERENCES ml.training_runs (id),
    library_version   text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT model_versions_horizon_sessions CHECK (
        horizon_sessions = CASE horizon WHEN '1D' THEN 1 WHEN '5D' THEN 5 WHEN '10D' THEN 10 ELSE 20 END),
    CONSTRAINT model_versions_window CHECK (train_start <= last_sample_date AND last_sample_date < train_end),
    CONSTRAINT model_versions_bundle CHECK (
        cardinality(quantiles) = cardinality(model_texts) AND cardinality(quantiles) >= 1
        AND cardinality(feature_names) = n_features),
    UNIQUE (model_type, market, horizon, train_end)
);
-- "the newest model of (market, horizon) whose training ended before D"
CREATE INDEX ml_model_versions_lookup_idx ON ml.ml_model_versions (market, model_type, horizon, train_end DESC);
CREATE INDEX ml_model_versions_sha_idx ON ml.ml_model_versions (sha256);

-- Forecasts: one row per (symbol, forecast_date D, timeframe, horizon, model_type). Returns are
-- computed from adjusted closes up to D; base_close is the close of D as traded on D (prices adjusted
-- as of D), and target_price / ci_lower / ci_upper are in the same units, so no corporate action after
-- D changes a row of D. return_q10/q50/q90 are the h-session log-return quantiles; forecast_return is
-- the simple return of the median (target_price / base_close - 1).
CREATE TABLE ml.ml_forecasts (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    symbol_id         bigint      NOT NULL REFERENCES market.symbols (id),
    forecast_date     date        NOT NULL,
    timeframe         text        NOT NULL DEFAULT 'd1' CHECK (timeframe = 'd1'),
    horizon           text        NOT NULL CHECK (horizon IN ('1D', '5D', '10D', '20D')),
    horizon_sessions  integer     NOT NULL,
    target_date       date        NOT NULL,     -- the session h sessions after D on the market's calendar
    model_type        text        NOT NULL CHECK (model_type IN ('lightgbm', 'prophet', 'ensemble')),
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
    volatility        double precision NOT NULL CHECK (volatility > 0),   -- daily log-return sigma at D
    neutral_band      double precision NOT NULL CHECK (neutral_band >= 0), -- |log return| below = neutral
    model_version     text        NOT NULL,     -- the model's SHA-256 (ensemble: of its inputs and weights)
    model_version_id  bigint      REFERENCES ml.ml_model_versions (id),   -- lightgbm rows
    feature_set_hash  text,                     -- lightgbm and ensemble rows
    dagster_run_id    text,
    -- ensemble rows: what was combined and how
    base_predictions  jsonb,      -- model_type -> {return_q10, return_q50, return_q90, model_version}
    weights           jsonb,      -- model_type -> weight used (sum 1)
    weights_source    text        CHECK (weights_source IN ('model_weights_symbol', 'model_weights_market',
                                                            'equal_no_weights', 'renormalized')),
    weights_as_of     date,       -- as_of_date of the ml.model_weights rows used (< forecast_date)
    supertrend_state  text        CHECK (supertrend_state IN ('bullish', 'bearish')),
    supertrend_line   double precision,
    nearest_support   double precision,
    nearest_resistance double precision,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ml_forecasts_horizon_sessions CHECK (
        horizon_sessions = CASE horizon WHEN '1D' THEN 1 WHEN '5D' THEN 5 WHEN '10D' THEN 10 ELSE 20 END),
    CONSTRAINT ml_forecasts_target_after CHECK (target_date > forecast_date),
    CONSTRAINT ml_forecasts_quantiles_ordered CHECK (return_q10 <= return_q50 AND return_q50 <= return_q90),
    CONSTRAINT ml_forecasts_interval CHECK (ci_lower <= target_price AND target_price <= ci_upper),
    CONSTRAINT ml_forecasts_lightgbm_model CHECK ((model_type = 'lightgbm') = (model_version_id IS NOT NULL)),
    CONSTRAINT ml_forecasts_ensemble_inputs CHECK (
        (model_type = 'ensemble') = (base_predictions IS NOT NULL AND weights IS NOT NULL
                                     AND weights_source IS NOT NULL)),
    CONSTRAINT ml_forecasts_weights_before CHECK (weights_as_of IS NULL OR weights_as_of < forecast_date),
    UNIQUE (symbol_id, forecast_date, timeframe, horizon, model_type)
);
-- per-day reads (ensemble, evaluations of forecasts made h sessions before, latest forecast per symbol)
CREATE INDEX ml_forecasts_date_idx ON ml.ml_forecasts (forecast_date, model_type, horizon);
CREATE INDEX ml_forecasts_target_idx ON ml.ml_forecasts (target_date, horizon);
CREATE INDEX ml_forecasts_model_version_idx ON ml.ml_forecasts (model_version_id) WHERE model_version_id IS NOT NULL;

-- The path to the horizon: one point per session 1..h with its interval (log-return quantiles and prices).
CREATE TABLE ml.forecast_points (
    forecast_id       bigint      NOT NULL REFERENCES ml.ml_forecasts (id) ON DELETE CASCADE,
    step              integer     NOT NULL CHECK (step >= 1 AND step <= 20),
    point_date        date        NOT NULL,
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

-- Ensemble weights (written by <market>/model_weights, issue 12): per market, as-of session, horizon and
-- scope (symbol_id NULL = the market's weights), one row per base model; the weights of one
-- (market, as_of_date, horizon, scope) sum to 1 (checked at commit). The ensemble of D reads the newest
-- as_of_date < D; while none exist it uses equal weights and records weights_source = 'equal_no_weights'.
CREATE TABLE ml.model_weights (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    market            text        NOT NULL CHECK (market IN ('us_equity', 'crypto')),
    as_of_date        date        NOT NULL,
    horizon           text        NOT NULL CHECK (horizon IN ('1D', '5D', '10D', '20D')),
    symbol_id         bigint      REFERENCES market.symbols (id),
    model_type        text        NOT NULL CHECK (model_type IN ('lightgbm', 'prophet')),
    weight            double precision NOT NULL CHECK (weight >= 0 AND weight <= 1),
    reason            text        NOT NULL,
    window_sessions   integer     CHECK (window_sessions > 0),
    window_start      date,
    window_end        date,
    n_evaluations     integer     CHECK (n_evaluations >= 0),
    accuracies        jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- the window's figures per model
    dagster_run_id    text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (window_end IS NULL OR window_end < as_of_date),   -- weights of D use outcomes before D
    CHECK (window_start IS NULL OR window_end IS NULL OR window_start <= window_end),
    CONSTRAINT model_weights_one_per_scope UNIQUE NULLS NOT DISTINCT (market, as_of_date, horizon, symbol_id, model_type)
);
CREATE INDEX model_weights_lookup_idx ON ml.model_weights (market, horizon, as_of_date DESC);

CREATE FUNCTION ml.check_model_weights_sum() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    total double precision;
BEGIN
    SELECT sum(weight) INTO total FROM ml.model_weights
    WHERE market = NEW.market AND as_of_date = NEW.as_of_date AND horizon = NEW.horizon
      AND symbol_id IS NOT DISTINCT FROM NEW.symbol_id;
    IF total IS NOT NULL AND abs(total - 1.0) > 1e-9 THEN
        RAISE EXCEPTION 'model_weights of (%, %, %, symbol %) sum to %, not 1',
            NEW.market, NEW.as_of_date, NEW.horizon, coalesce(NEW.symbol_id::text, 'market'), total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER model_weights_sum_to_one
    AFTER INSERT OR UPDATE ON ml.model_weights
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ml.check_model_weights_sum();
