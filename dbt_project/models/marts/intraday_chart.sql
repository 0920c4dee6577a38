{#- The intraday chart of every active symbol: its m15 bars of the latest session with bars (kind 'bar',
    as traded) and, beside them, the path of its newest intraday forecast of each horizon (kind 'forecast':
    one point per m15 step with the 80% band, placed at the step's bar start). Forecasts are never bars:
    they live in ml.ml_forecasts_intraday and meet the bars only here. -#}
{{ config(materialized='view') }}

{% for market in markets() %}
{%- if not loop.first %}union all{% endif %}
select * from (
    with latest_session as (
        select b.symbol_id, max(b.session_date) as session_date
        from {{ source(market, 'ohlc_bars') }} b
        where b.timeframe = 'm15' and b.symbol_id in {{ market_symbol_ids(market) }}
        group by b.symbol_id
    ),
    newest as (
        select distinct on (f.symbol_id, f.horizon) f.*
        from {{ source(market ~ '_intraday_forecasts', 'ml_forecasts_intraday') }} f
        where f.symbol_id in {{ market_symbol_ids(market) }}
        order by f.symbol_id, f.horizon, f.issued_at desc
    )
    select '{{ market }}'::text as market, s.ticker, b.symbol_id, 'bar'::text as kind, null::text as horizon,
           b.ts, b.ts + interval '15 minutes' as ts_end, b.open, b.high, b.low, b.close,
           null::double precision as price, null::double precision as lower, null::double precision as upper,
           null::text as overall_label, null::double precision as confidence, null::timestamptz as issued_at
    from {{ source(market, 'ohlc_bars') }} b
    join latest_session l on l.symbol_id = b.symbol_id and l.session_date = b.session_date
    join {{ source('market', 'symbols') }} s on s.id = b.symbol_id
    where b.timeframe = 'm15'
    union all
    select '{{ market }}'::text, s.ticker, n.symbol_id, 'forecast'::text, n.horizon,
           p.point_ts - interval '15 minutes', p.point_ts, null, null, null, null,
           p.price, p.lower, p.upper, n.overall_label, n.confidence, n.issued_at
    from newest n
    join {{ source(market ~ '_intraday_forecasts', 'ml_forecast_paths_intraday') }} p on p.forecast_id = n.id
    join {{ source('market', 'symbols') }} s on s.id = n.symbol_id
) chart_{{ market }}
{% endfor %}
