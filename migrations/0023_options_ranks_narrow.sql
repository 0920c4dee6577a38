-- options.options_ranks holds every contract twice (entry and exit mode), and half of its 41 columns were
-- per-contract values that both modes share and that are stored already: the quote, IV and delta
-- (options_chain_snapshots), days to expiry and spread (from the snapshot's expiry and quote), the IV
-- percentile (iv_history) and the matched forecast's label, confidence and volatility (ml.ml_forecasts).
-- Writing them twice more per contract made the ranks' COPY the largest write of the options run
-- (benchmarks/options.py, 200,000 contracts = 400,000 rank rows, 156 MB of binary COPY data). The same
-- rows COPYed into an emptied table, alternating, on the shared 2-core benchmark machine (medians of 5):
-- 41 columns in rank order 4.5 s; the 23 columns below (104 MB) 3.9 s; and 3.0 s with the rows sent in
-- the primary key's order, as ranking.rank_chains now returns them. A rank row now holds what is the
-- ranking's own, one column per component:
--
--   underlying_symbol_id, snapshot_date, contract, ranking_mode (the key), snapshot_ts (the snapshot that
--   was ranked: the join to options_chain_snapshots through its primary key), the 13 components,
--   composite_score, rank, signal, forecast_horizon (the ensemble horizon matched to the contract's
--   expiry; the forecast row itself is ml.ml_forecasts' (symbol, D, horizon, 'ensemble')) and
--   dagster_run_id;
--
-- and readers join the rest: swiftbolt/options/store.py load_ranks (the evaluation's quotes),
-- swiftbolt/options/report.py and dbt_project/models/marts/top_ranked_options.sql (the dashboard's table,
-- same columns as before).
--
-- Existing rows get the snapshot_ts of their day's latest snapshot (what the ranks were computed from);
-- a rank row whose snapshot is gone keeps NULL there (the writer always sets it).

ALTER TABLE options.options_ranks ADD COLUMN snapshot_ts timestamptz;

UPDATE options.options_ranks r
SET snapshot_ts = l.ts
FROM (SELECT underlying_symbol_id, snapshot_date, max(snapshot_ts) AS ts
      FROM options.options_chain_snapshots GROUP BY 1, 2) l
WHERE l.underlying_symbol_id = r.underlying_symbol_id AND l.snapshot_date = r.snapshot_date;

ALTER TABLE options.options_ranks
    DROP COLUMN expiration,
    DROP COLUMN strike,
    DROP COLUMN option_type,
    DROP COLUMN bid,
    DROP COLUMN ask,
    DROP COLUMN mark,
    DROP COLUMN implied_volatility,
    DROP COLUMN delta,
    DROP COLUMN days_to_expiry,
    DROP COLUMN spread_pct,
    DROP COLUMN forecast_label,
    DROP COLUMN forecast_confidence,
    DROP COLUMN forecast_volatility,
    DROP COLUMN iv_percentile,
    DROP COLUMN liquidity_confidence;
