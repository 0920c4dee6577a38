-- Options (issue 14): chain snapshots with their quarantine, IV history, option ranks and ranking
-- evaluations. Every table is keyed by the underlying (market.symbols) and the trading day D of the
-- Dagster partition [trading day x symbol]; each is written by one asset (assets/options.py) through
-- swiftbolt/options/store.py, delete + COPY per partition in one transaction.

-- (schema options: migration 0001; reader grants: default privileges of migration 0012)

-- One row per contract per snapshot. Intraday runs add a snapshot (snapshot_kind 'intraday') at their
-- time; the after-close run takes the session's closing snapshot ('close'). Prices are as-traded;
-- implied_volatility and greeks are the provider's where it has them (iv_source 'provider'), else
-- solved by the project (Black-Scholes-Merton on the forward from put-call parity, see
-- swiftbolt/options/greeks.py; iv_source 'computed'), NULL when no vol reproduces the mid.
CREATE TABLE options.options_chain_snapshots (
    underlying_symbol_id bigint      NOT NULL REFERENCES market.symbols (id),
    snapshot_date        date        NOT NULL,
    snapshot_ts          timestamptz NOT NULL,
    snapshot_kind        text        NOT NULL CHECK (snapshot_kind IN ('intraday', 'close')),
    contract             text        NOT NULL CHECK (contract ~ '^[A-Z0-9.]{1,6}[0-9]{6}[CP][0-9]{8}$'),
    expiration           date        NOT NULL,
    strike               double precision NOT NULL CHECK (strike > 0),
    option_type          text        NOT NULL CHECK (option_type IN ('call', 'put')),
    bid                  double precision CHECK (bid >= 0),
    ask                  double precision CHECK (ask >= 0),
    mark                 double precision CHECK (mark >= 0),     -- mid of a two-sided quote
    last                 double precision CHECK (last >= 0),
    volume               double precision CHECK (volume >= 0),
    open_interest        double precision CHECK (open_interest >= 0),
    implied_volatility   double precision CHECK (implied_volatility > 0 AND implied_volatility <= 5),
    delta                double precision CHECK (delta BETWEEN -1 AND 1),
    gamma                double precision,
    theta                double precision,   -- per calendar day
    vega                 double precision,   -- per vol point (0.01)
    rho                  double precision,   -- per rate point (0.01)
    underlying_price     double precision NOT NULL CHECK (underlying_price > 0),
    years_to_expiry      double precision NOT NULL CHECK (years_to_expiry >= 0),
    rate                 double precision,   -- continuously compounded, used for IV/greeks
    dividend_yield       double precision,   -- implied by the parity forward of the expiry
    forward              double precision,
    iv_source            text        NOT NULL CHECK (iv_source IN ('provider', 'computed', 'none')),
    provider             text        NOT NULL,
    dagster_run_id       text,
    CHECK (bid IS NULL OR ask IS NULL OR bid <= ask),
    CHECK (expiration >= snapshot_date),
    PRIMARY KEY (underlying_symbol_id, snapshot_date, snapshot_ts, contract)
);
CREATE INDEX options_chain_snapshots_day_idx ON options.options_chain_snapshots (snapshot_date, underlying_symbol_id);
CREATE INDEX options_chain_snapshots_contract_idx ON options.options_chain_snapshots (contract, snapshot_date);

-- Rows of a provider's chain that failed validation, each with its reason and the raw row as sent.
CREATE TABLE ops.option_chain_quarantine (
    id                   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    underlying_symbol_id bigint      NOT NULL REFERENCES market.symbols (id),
    snapshot_date        date        NOT NULL,
    snapshot_ts          timestamptz NOT NULL,
    contract             text,
    reason               text        NOT NULL,
    raw                  jsonb       NOT NULL,
    provider             text        NOT NULL,
    quarantined_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX option_chain_quarantine_partition_idx ON ops.option_chain_quarantine (underlying_symbol_id, snapshot_date);

-- One row per underlying and day, from the day's latest snapshot.
CREATE TABLE options.iv_history (
    underlying_symbol_id bigint      NOT NULL REFERENCES market.symbols (id),
    snapshot_date        date        NOT NULL,
    snapshot_ts          timestamptz NOT NULL,
    underlying_price     double precision NOT NULL CHECK (underlying_price > 0),
    atm_iv_30d           double precision CHECK (atm_iv_30d > 0),  -- constant 30-day maturity, total variance
    atm_call_iv          double precision,
    atm_put_iv           double precision,
    skew_25d             double precision,   -- IV(25-delta put) - IV(25-delta call), 30-day
    term_slope           double precision,   -- (ATM IV of the longest - of the nearest expiry) / years between
    iv_min               double precision,
    iv_max               double precision,
    iv_median            double precision,
    hv_20                double precision,   -- annualised close-to-close vol of adjusted d1 bars
    hv_60                double precision,
    iv_rank              double precision CHECK (iv_rank BETWEEN 0 AND 1),
    iv_percentile        double precision CHECK (iv_percentile BETWEEN 0 AND 1),
    history_sessions     integer     NOT NULL CHECK (history_sessions >= 1),   -- sessions in the rank window
    history_complete     boolean     NOT NULL,   -- the window holds 252 sessions
    n_contracts          integer     NOT NULL CHECK (n_contracts >= 0),
    n_expirations        integer     NOT NULL CHECK (n_expirations >= 0),
    dagster_run_id       text,
    PRIMARY KEY (underlying_symbol_id, snapshot_date)
);

-- Every contract of the day's snapshot scored, per ranking mode, with every component stored.
CREATE TABLE options.options_ranks (
    underlying_symbol_id bigint      NOT NULL REFERENCES market.symbols (id),
    snapshot_date        date        NOT NULL,
    contract             text        NOT NULL,
    ranking_mode         text        NOT NULL CHECK (ranking_mode IN ('entry', 'exit')),
    expiration           date        NOT NULL,
    strike               double precision NOT NULL,
    option_type          text        NOT NULL CHECK (option_type IN ('call', 'put')),
    bid                  double precision,
    ask                  double precision,
    mark                 double precision,
    implied_volatility   double precision,
    delta                double precision,
    days_to_expiry       integer     NOT NULL,
    spread_pct           double precision,   -- (ask - bid) / mid
    liquidity_spread_score   double precision NOT NULL CHECK (liquidity_spread_score BETWEEN 0 AND 1),
    liquidity_oi_score       double precision NOT NULL CHECK (liquidity_oi_score BETWEEN 0 AND 1),
    liquidity_volume_score   double precision NOT NULL CHECK (liquidity_volume_score BETWEEN 0 AND 1),
    liquidity_score          double precision NOT NULL CHECK (liquidity_score BETWEEN 0 AND 1),
    value_iv_realized_score  double precision NOT NULL CHECK (value_iv_realized_score BETWEEN 0 AND 1),
    value_iv_forecast_score  double precision NOT NULL CHECK (value_iv_forecast_score BETWEEN 0 AND 1),
    value_iv_rank_score      double precision NOT NULL CHECK (value_iv_rank_score BETWEEN 0 AND 1),
    value_score              double precision NOT NULL CHECK (value_score BETWEEN 0 AND 1),
    greeks_delta_score       double precision NOT NULL CHECK (greeks_delta_score BETWEEN 0 AND 1),
    greeks_theta_score       double precision NOT NULL CHECK (greeks_theta_score BETWEEN 0 AND 1),
    greeks_vega_score        double precision NOT NULL CHECK (greeks_vega_score BETWEEN 0 AND 1),
    greeks_score             double precision NOT NULL CHECK (greeks_score BETWEEN 0 AND 1),
    forecast_alignment_score double precision NOT NULL CHECK (forecast_alignment_score BETWEEN 0 AND 1),
    forecast_horizon     text,               -- the ensemble horizon matched to the expiry
    forecast_label       text,               -- bullish / bearish / neutral, NULL without a forecast of D
    forecast_confidence  double precision,
    forecast_volatility  double precision,   -- annualised, from the forecast's interval
    iv_percentile        double precision,
    liquidity_confidence double precision NOT NULL CHECK (liquidity_confidence BETWEEN 0 AND 1),
    composite_score      double precision NOT NULL CHECK (composite_score BETWEEN 0 AND 1),
    rank                 integer     NOT NULL CHECK (rank >= 1),    -- 1 = best, per underlying, day and mode
    signal               text        NOT NULL CHECK (signal IN ('strong', 'moderate', 'weak', 'avoid')),
    dagster_run_id       text,
    PRIMARY KEY (underlying_symbol_id, snapshot_date, ranking_mode, contract),
    UNIQUE (underlying_symbol_id, snapshot_date, ranking_mode, rank)
);
-- top_ranked_options: the best contracts of the newest day per underlying
CREATE INDEX options_ranks_top_idx ON options.options_ranks (snapshot_date, ranking_mode, rank, underlying_symbol_id);

-- The evaluation of the ranking of snapshot_date once its horizon has realized (evaluation_date =
-- snapshot_date + horizon sessions = the partition's day).
CREATE TABLE options.ranking_evaluations (
    underlying_symbol_id bigint      NOT NULL REFERENCES market.symbols (id),
    snapshot_date        date        NOT NULL,
    ranking_mode         text        NOT NULL CHECK (ranking_mode IN ('entry', 'exit')),
    horizon_sessions     integer     NOT NULL CHECK (horizon_sessions IN (1, 5)),
    evaluation_date      date        NOT NULL,
    n_contracts          integer     NOT NULL CHECK (n_contracts >= 0),  -- ranked on D and quoted at D+h
    rank_ic              double precision,   -- Spearman(score, forward return with fills: ask in, bid out)
    rank_ic_mid          double precision,   -- the same against mid-to-mid returns
    ic_mean              double precision,   -- over the window of stored daily ICs including this one
    ic_std               double precision,
    ic_trend             double precision,   -- slope of IC per session over the window
    ic_stability         double precision,   -- ic_mean / ic_std
    window_sessions      integer     NOT NULL CHECK (window_sessions >= 1),
    hit_rate             double precision,   -- top quintile beats the bottom quintile's median
    hit_rate_lower       double precision,   -- Wilson 95% interval
    hit_rate_upper       double precision,
    calibration          jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- mean return per score quintile
    calibration_monotonicity double precision, -- Spearman of quintile mean returns vs quintile
    leakage_ic_prior     double precision,   -- IC vs the return over the h sessions before D (must be ~0)
    features_match       boolean,            -- the ranks of D recomputed from data cut at D equal the stored
    permutation_p_value  double precision CHECK (permutation_p_value BETWEEN 0 AND 1),
    regime               text,               -- the underlying's IV regime at D (iv_rank low/normal/high)
    is_healthy           boolean     NOT NULL,
    reasons              jsonb       NOT NULL DEFAULT '[]'::jsonb,
    dagster_run_id       text,
    CHECK (evaluation_date > snapshot_date),
    PRIMARY KEY (underlying_symbol_id, snapshot_date, ranking_mode, horizon_sessions)
);
CREATE INDEX ranking_evaluations_eval_idx ON options.ranking_evaluations (evaluation_date, underlying_symbol_id);
