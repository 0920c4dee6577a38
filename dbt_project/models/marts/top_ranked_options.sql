{#- The best contracts per underlying of its newest ranked day, both ranking modes (entry, exit), with every
    component of the score, the underlying's IV summary of that day and the newest 1-session evaluation of
    the mode. A table rebuilt by every dbt build (the daily job runs it after options_ranks and
    ranking_evaluations): a dashboard reads a few hundred rows through its indexes instead of finding each
    underlying's newest day among a year of ranks (README: p95). The build reads each underlying's newest
    day through the ranks' primary key (underlying, day, mode, contract). -#}
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
    r.option_type,
    r.expiration,
    r.strike,
    r.days_to_expiry,
    r.bid,
    r.ask,
    r.mark,
    r.implied_volatility,
    r.delta,
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
    r.forecast_label,
    r.forecast_confidence,
    r.liquidity_confidence,
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
join {{ source('us_equity_options', 'options_ranks') }} r
  on r.underlying_symbol_id = s.id and r.snapshot_date = newest.snapshot_date and r.rank <= {{ top_n }}
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
