{#- One row per active symbol for the dashboard's symbol list: latest daily close and change, the latest
    d1 indicators, the latest quote, and the forecast / option columns the dashboard will show.
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
       -- Forecasts (ml_forecasts) and option ranks (options_ranks) are not produced yet: the columns are
       -- here so the dashboard's contract is stable, and stay NULL until those assets and tables exist.
       null::text as forecast_label,
       null::double precision as forecast_confidence,
       null::timestamptz as forecast_run_at,
       null::double precision as top_option_score,
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
where s.is_active
