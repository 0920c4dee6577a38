{#- Split- and dividend-adjusted bars of both markets, with the symbol's market and ticker.
    The adjustment itself is the migration's view market.ohlc_bars_adjusted; this model only attributes
    rows to markets (so each market's rows depend on that market's bar asset) and adds the ticker. -#}
-- depends_on: {{ source('us_equity', 'corporate_actions') }}
{{ config(materialized='view') }}

{% for market in markets() %}
select s.market,
       s.ticker,
       b.symbol_id,
       b.timeframe,
       b.ts,
       b.session_date,
       b.open,
       b.high,
       b.low,
       b.close,
       b.volume,
       b.vwap,
       b.adjustment_factor
from {{ source(market, 'ohlc_bars_adjusted') }} b
join {{ source('market', 'symbols') }} s on s.id = b.symbol_id and s.market = '{{ market }}'
{% if not loop.last %}union all{% endif %}
{% endfor %}
