-- Forecast evaluations, the weights feedback loop, confidence calibration and model performance (issue 12).
-- Written by swiftbolt/evaluations/store.py through the assets of assets/evaluations.py.
--
-- Convention of "as of D" (weights, calibration, performance): computed from evaluations whose outcome
-- is known at the close of D (evaluation_date <= D); the ensemble of D uses those as of D-1 (strictly
-- before D, as ml_forecasts_weights_before already says). 0015 anticipated weights of D from outcomes
-- strictly before D; that would leave a day unused and cannot be expressed as a Dagster dependency (the
-- evaluations of D are what the weights of D follow), so its check becomes window_end <= as_of_date.

-- One evaluation per forecast, at its target session (evaluation_date = the forecast's target_date).
-- realized_price is in the units of the forecast's base_close (the close of the forecast date as traded
-- then): base_close x adjusted close(T) / adjusted close(D), so a split in between does not count as an
-- error. price_error = target_price - realized_price; price_error_pct = price_error / realized_price.
CREATE TABLE ml.forecast_evaluations (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    forecast_id         bigint      NOT NULL UNIQUE REFERENCES ml.ml_forecasts (id) ON DELETE CASCADE,
    symbol_id           bigint      NOT NULL REFERENCES market.symbols (id),
    model_type          text        NOT NULL CHECK (model_type IN ('lightgbm', 'prophet', 'ensemble')),
    horizon             text        NOT NULL CHECK (horizon IN ('1D', '5D', '10D', '20D')),
    forecast_date       date        NOT NULL,
    evaluation_date     date        NOT NULL,
    base_close          double precision NOT NULL CHECK (base_close > 0),
    target_price        double precision NOT NULL CHECK (target_price > 0),
    realized_price      double precision NOT NULL CHECK (realized_price > 0),
    realized_return     double precision NOT NULL CHECK (realized_return > -1),   -- simple return D -> T
    realized_log_return double precision NOT NULL,
    predicted_return    double precision NOT NULL,    -- the forecast's simple return of the median
    predicted_label     text        NOT NULL CHECK (predicted_label IN ('bullish', 'bearish', 'neutral')),
    realized_label      text        NOT NULL CHECK (realized_label IN ('bullish', 'bearish', 'neutral')),
    direction_correct   boolean     NOT NULL,         -- predicted_label = realized_label (same neutral band)
    sign_correct        boolean,                      -- sign of the median = sign of the return (NULL if 0)
    price_error         double precision NOT NULL,
    price_error_pct     double precision NOT NULL,
    inside_interval     boolean     NOT NULL,         -- ci_lower <= realized_price <= ci_upper
    confidence          double precision NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    prob_up             double precision NOT NULL CHECK (prob_up >= 0 AND prob_up <= 1),
    dagster_run_id      text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT forecast_evaluations_after_forecast CHECK (evaluation_date > forecast_date),
    CONSTRAINT forecast_evaluations_error CHECK (
        abs(price_error - (target_price - realized_price)) <= 1e-9 * greatest(1.0, abs(target_price)))
);
-- per-day writes and windows of evaluations
CREATE INDEX forecast_evaluations_date_idx ON ml.forecast_evaluations (evaluation_date, model_type, horizon);
CREATE INDEX forecast_evaluations_symbol_idx ON ml.forecast_evaluations (symbol_id, evaluation_date);

-- An evaluation is of its forecast's target session and never of a forecast made on a later day.
CREATE FUNCTION ml.check_evaluation_target() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    f record;
BEGIN
    SELECT symbol_id, forecast_date, target_date, horizon, model_type INTO f
    FROM ml.ml_forecasts WHERE id = NEW.forecast_id;
    IF f.target_date <> NEW.evaluation_date OR f.forecast_date <> NEW.forecast_date OR f.symbol_id <> NEW.symbol_id
       OR f.horizon <> NEW.horizon OR f.model_type <> NEW.model_type THEN
        RAISE EXCEPTION 'evaluation of forecast % does not match it (target %, evaluated %)',
            NEW.forecast_id, f.target_date, NEW.evaluation_date USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER forecast_evaluations_match_forecast
    BEFORE INSERT OR UPDATE ON ml.forecast_evaluations
    FOR EACH ROW EXECUTE FUNCTION ml.check_evaluation_target();

-- ml.model_weights (0015): weights of D come from outcomes up to D's close (see the header).
DO $$
DECLARE
    c text;
BEGIN
    SELECT conname INTO c FROM pg_constraint
    WHERE conrelid = 'ml.model_weights'::regclass AND contype = 'c'
      AND pg_get_constraintdef(oid) LIKE '%window_end < as_of_date%';
    IF c IS NOT NULL THEN
        EXECUTE format('ALTER TABLE ml.model_weights DROP CONSTRAINT %I', c);
    END IF;
END;
$$;
ALTER TABLE ml.model_weights
    DROP CONSTRAINT model_weights_market_check,
    ADD CONSTRAINT model_weights_market_code CHECK (market ~ '^[a-z][a-z0-9_]{1,30}$'),
    ADD CONSTRAINT model_weights_window_known CHECK (window_end IS NULL OR window_end <= as_of_date);

-- Confidence calibration per (market, as_of_date, horizon, model): buckets of stated confidence with the
-- realised accuracy, fitted (isotonic regression) on evaluations with evaluation_date in
-- [window_start, window_end], window_end <= as_of_date. `calibrated` is the isotonic fit at the bucket's
-- mean stated confidence; the ensemble of D maps its confidence through the curve as of the newest
-- as_of_date < D.
CREATE TABLE ml.ml_confidence_calibration (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    market            text        NOT NULL CHECK (market ~ '^[a-z][a-z0-9_]{1,30}$'),
    as_of_date        date        NOT NULL,
    horizon           text        NOT NULL CHECK (horizon IN ('1D', '5D', '10D', '20D')),
    model_type        text        NOT NULL CHECK (model_type IN ('lightgbm', 'prophet', 'ensemble')),
    method            text        NOT NULL CHECK (method IN ('isotonic')),
    bucket            integer     NOT NULL CHECK (bucket >= 0 AND bucket < 20),
    bucket_lower      double precision NOT NULL CHECK (bucket_lower >= 0 AND bucket_lower < 1),
    bucket_upper      double precision NOT NULL CHECK (bucket_upper > 0 AND bucket_upper <= 1),
    predicted         double precision NOT NULL CHECK (predicted >= 0 AND predicted <= 1),  -- mean stated
    actual            double precision NOT NULL CHECK (actual >= 0 AND actual <= 1),        -- realised rate
    n                 integer     NOT NULL CHECK (n > 0),
    calibrated        double precision NOT NULL CHECK (calibrated >= 0 AND calibrated <= 1),
    adjustment        double precision NOT NULL CHECK (adjustment >= -1 AND adjustment <= 1), -- calibrated - predicted
    n_window          integer     NOT NULL CHECK (n_window >= n),
    ece_before        double precision NOT NULL CHECK (ece_before >= 0 AND ece_before <= 1),
    ece_after         double precision NOT NULL CHECK (ece_after >= 0 AND ece_after <= 1),
    window_start      date        NOT NULL,
    window_end        date        NOT NULL,
    dagster_run_id    text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (bucket_lower < bucket_upper AND predicted >= bucket_lower AND predicted <= bucket_upper),
    CHECK (abs(adjustment - (calibrated - predicted)) <= 1e-9),
    CHECK (window_start <= window_end AND window_end <= as_of_date),
    UNIQUE (market, as_of_date, horizon, model_type, bucket)
);
CREATE INDEX ml_confidence_calibration_lookup_idx
    ON ml.ml_confidence_calibration (market, model_type, horizon, as_of_date DESC);

-- Model performance per (market, as_of_date, horizon, model) over a trailing window of evaluation dates;
-- the naive baselines are rows of their own (is_baseline), scored on the same forecasts' outcomes.
CREATE TABLE ml.model_performance_history (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    market            text        NOT NULL CHECK (market ~ '^[a-z][a-z0-9_]{1,30}$'),
    as_of_date        date        NOT NULL,
    horizon           text        NOT NULL CHECK (horizon IN ('1D', '5D', '10D', '20D')),
    model             text        NOT NULL CHECK (model IN ('lightgbm', 'prophet', 'ensemble', 'persistence',
                                                            'always_up', 'up_frequency', 'zero')),
    is_baseline       boolean     NOT NULL,
    window_sessions   integer     NOT NULL CHECK (window_sessions > 0),
    window_start      date        NOT NULL,
    window_end        date        NOT NULL,
    n                 integer     NOT NULL CHECK (n >= 0),
    n_symbols         integer     NOT NULL CHECK (n_symbols >= 0),
    hit_rate          double precision CHECK (hit_rate >= 0 AND hit_rate <= 1),
    hit_low           double precision CHECK (hit_low >= 0 AND hit_low <= 1),
    hit_high          double precision CHECK (hit_high >= 0 AND hit_high <= 1),
    mae               double precision CHECK (mae >= 0),
    rmse              double precision CHECK (rmse >= 0),
    ic                double precision CHECK (ic >= -1 AND ic <= 1),
    rank_ic           double precision CHECK (rank_ic >= -1 AND rank_ic <= 1),
    icir              double precision,
    rank_ic_days      integer     CHECK (rank_ic_days >= 0),
    coverage          double precision CHECK (coverage >= 0 AND coverage <= 1),
    ece               double precision CHECK (ece >= 0 AND ece <= 1),
    brier             double precision CHECK (brier >= 0 AND brier <= 1),
    dagster_run_id    text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (is_baseline = (model NOT IN ('lightgbm', 'prophet', 'ensemble'))),
    CHECK (hit_low IS NULL OR hit_high IS NULL OR hit_low <= hit_high),
    CHECK (window_start <= window_end AND window_end <= as_of_date),
    UNIQUE (market, as_of_date, horizon, model)
);
CREATE INDEX model_performance_history_lookup_idx ON ml.model_performance_history (market, horizon, as_of_date DESC);

-- The ensemble's confidence is the calibrated one; the row keeps the raw value and the calibration used.
ALTER TABLE ml.ml_forecasts
    ADD COLUMN confidence_raw     double precision CHECK (confidence_raw >= 0 AND confidence_raw <= 1),
    ADD COLUMN calibration_as_of  date,
    ADD COLUMN calibration_source text CHECK (calibration_source IN ('isotonic', 'uncalibrated_no_calibration')),
    ADD CONSTRAINT ml_forecasts_calibration_before CHECK (calibration_as_of IS NULL OR calibration_as_of < forecast_date),
    ADD CONSTRAINT ml_forecasts_calibration_ensemble CHECK (
        (model_type = 'ensemble') OR (calibration_source IS NULL AND calibration_as_of IS NULL));
