{#- One row per active symbol for the dashboard's symbol list: latest daily close and change, the latest
    d1 indicators, the latest quote, the newest 1D ensemble forecast (calibrated confidence, the market's
    trailing hit rate), and the newest IV summary and best entry contract of its options.
    A table (rebuilt by every dbt build), so the dashboard reads a few dozen rows by primary key. -#}
{{ config(
    materialized='table',
    indexes=[{'columns': ['symbol_id'], 'unique': True}, {'columns': ['ticker'], 'unique': True}],
) }}

with quotes as (
    {% for market in markets() %}
    select q.symbol_id, q.ts, q.last, q.bid, q.ask, q.prev_close
    from {{ source(market, 'quotes') }} q
    where q.symbol_id in {{ market_symbol_ids(market) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select s.id as symbol_id,
       s.ticker,
       s.market,
       s.asset_type,
       s.name,
       d.session_date as latest_session,
       d.close as latest_close,
       d.prev_close,
       d.close - d.prev_close as change,
       100.0 * d.return_1 as change_pct,
       d.volume as latest_volume,
       d.sma_20,
       d.sma_50,
       d.volatility_20,
       d.return_5,
       d.return_20,
       d.session_vwap as vwap,
       d.pivot_pp,
       d.pivot_r1,
       d.pivot_s1,
       {% for column in var('python_feature_columns') %}
       d.{{ column }},
       {% endfor %}
       q.last as quote_last,
       q.bid as quote_bid,
       q.ask as quote_ask,
       q.ts as quote_ts,
       -- the newest 1D ensemble forecast (latest_forecast_summary), as the old dashboard showed it
       f.overall_label as forecast_label,
       f.confidence as forecast_confidence,
       f.run_at as forecast_run_at,
       f.forecast_date as forecast_date,
       f.target_price as forecast_target_price,
       f.ci_lower as forecast_ci_lower,
       f.ci_upper as forecast_ci_upper,
       f.supertrend_state as forecast_supertrend_state,
       f.nearest_support as forecast_nearest_support,
       f.nearest_resistance as forecast_nearest_resistance,
       f.confidence_raw as forecast_confidence_raw,       -- before calibration
       f.calibration_as_of as forecast_calibration_as_of,  -- the curve used (null: uncalibrated)
       -- the 1D ensemble's trailing hit rate in its market (model_accuracy: the newest window)
       a.hit_rate as forecast_trailing_hit_rate,
       a.n as forecast_trailing_n,
       a.best_baseline_hit_rate as forecast_best_baseline_hit_rate,
       -- options: the newest IV summary (iv_history) and the best entry contract (top_ranked_options)
       iv.snapshot_date as iv_date,
       iv.atm_iv_30d as iv_atm_30d,
       iv.iv_rank,
       iv.iv_percentile,
       iv.history_complete as iv_history_complete,
       iv.hv_20,
       o.contract as top_option_contract,
       o.composite_score as top_option_score,
       now() as refreshed_at
from {{ source('market', 'symbols') }} s
left join lateral (
    select iv.*
    from {{ ref('indicator_values') }} iv
    where iv.symbol_id = s.id and iv.timeframe = 'd1'
    order by iv.ts desc
    limit 1
) d on true
left join quotes q on q.symbol_id = s.id
left join {{ ref('latest_forecast_summary') }} f on f.symbol_id = s.id and f.horizon = '1D'
left join {{ ref('model_accuracy') }} a on a.market = s.market and a.horizon = '1D' and a.model = 'ensemble'
left join lateral (
    select h.*
    from {{ source('us_equity_options', 'iv_history') }} h
    where h.underlying_symbol_id = s.id
    order by h.snapshot_date desc
    limit 1
) iv on true
left join {{ ref('top_ranked_options') }} o
       on o.underlying_symbol_id = s.id and o.ranking_mode = 'entry' and o.rank = 1
where s.is_active
