{#- The best contracts per underlying of its newest ranked day, both ranking modes (entry, exit), with every
    component of the score, the underlying's IV summary of that day and the newest 1-session evaluation of
    the mode. A table rebuilt by every dbt build (the daily job runs it after options_ranks and
    ranking_evaluations): a dashboard reads a few hundred rows through its indexes instead of finding each
    underlying's newest day among a year of ranks (README: p95). The build reads each underlying's newest
    day through the ranks' primary key (underlying, day, mode, contract). A rank row holds the ranking's own
    values (migration 0023); the contract's quote, IV and delta come from the ranked snapshot (the ranks'
    snapshot_ts, through the snapshots' primary key) and the matched forecast's label and confidence from
    the ensemble row of D for forecast_horizon: what ranking.py read. -#}
{{ config(
    materialized='table',
    indexes=[{'columns': ['ticker', 'ranking_mode', 'rank']},
             {'columns': ['underlying_symbol_id', 'ranking_mode', 'rank'], 'unique': True}],
) }}
{%- set top_n = var('top_ranked_options_n', 10) | int %}

select
    s.market,
    s.ticker,
    r.underlying_symbol_id,
    r.snapshot_date,
    r.ranking_mode,
    r.rank,
    r.contract,
    q.option_type,
    q.expiration,
    q.strike,
    q.expiration - r.snapshot_date as days_to_expiry,
    q.bid,
    q.ask,
    q.mark,
    q.implied_volatility,
    q.delta,
    r.composite_score,
    r.signal,
    r.liquidity_score,
    r.liquidity_spread_score,
    r.liquidity_oi_score,
    r.liquidity_volume_score,
    r.value_score,
    r.value_iv_realized_score,
    r.value_iv_forecast_score,
    r.value_iv_rank_score,
    r.greeks_score,
    r.greeks_delta_score,
    r.greeks_theta_score,
    r.greeks_vega_score,
    r.forecast_alignment_score,
    r.forecast_horizon,
    f.overall_label as forecast_label,
    f.confidence as forecast_confidence,
    ((q.bid > 0 and q.ask > 0)::int + (q.open_interest is not null)::int
     + (q.volume is not null)::int) / 3.0::double precision as liquidity_confidence,
    iv.atm_iv_30d,
    iv.iv_rank,
    iv.iv_percentile,
    iv.hv_20,
    ev.rank_ic as last_rank_ic_1d,
    ev.is_healthy as last_ranking_healthy
from {{ source('market', 'symbols') }} s
cross join lateral (
    select max(snapshot_date) as snapshot_date
    from {{ source('us_equity_options', 'options_ranks') }}
    where underlying_symbol_id = s.id
) newest
cross join lateral (
    select *
    from {{ source('us_equity_options', 'options_ranks') }} x
    where x.underlying_symbol_id = s.id and x.snapshot_date = newest.snapshot_date and x.rank <= {{ top_n }}
    offset 0  -- not pulled up into a join: one primary-key range scan per underlying, never a scan of the year
) r
left join {{ source('us_equity_options', 'options_chain_snapshots') }} q
  on q.underlying_symbol_id = r.underlying_symbol_id and q.snapshot_date = r.snapshot_date
 and q.snapshot_ts = r.snapshot_ts and q.contract = r.contract
left join {{ source('us_equity_forecasts', 'ml_forecasts') }} f
  on f.symbol_id = s.id and f.forecast_date = r.snapshot_date and f.timeframe = 'd1'
 and f.model_type = 'ensemble' and f.horizon = r.forecast_horizon
left join {{ source('us_equity_options', 'iv_history') }} iv
  on iv.underlying_symbol_id = s.id and iv.snapshot_date = r.snapshot_date
left join lateral (
    select e.rank_ic, e.is_healthy
    from {{ source('us_equity_options', 'ranking_evaluations') }} e
    where e.underlying_symbol_id = s.id and e.ranking_mode = r.ranking_mode and e.horizon_sessions = 1
    order by e.evaluation_date desc
    limit 1
) ev on true
where s.is_active
