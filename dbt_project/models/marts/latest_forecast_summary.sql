{#- The newest ensemble forecast per symbol and horizon (the old system's latest_forecast_summary): label,
    confidence, target and interval, the model version and the SuperTrend / support-resistance context of
    its forecast day. A table with a unique index on (symbol_id, horizon). -#}
{{ config(
    materialized='table',
    indexes=[{'columns': ['symbol_id', 'horizon'], 'unique': True}],
) }}

with forecasts as (
    {% for market in markets() %}
    (select distinct on (f.symbol_id, f.horizon) f.*
     from {{ source(market ~ '_forecasts', 'ml_forecasts') }} f
     where f.model_type = 'ensemble' and f.timeframe = 'd1' and f.symbol_id in {{ market_symbol_ids(market) }}
     order by f.symbol_id, f.horizon, f.forecast_date desc)
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select f.symbol_id,
       s.ticker,
       s.market,
       f.horizon,
       f.horizon_sessions,
       f.forecast_date,
       f.target_date,
       f.overall_label,
       f.confidence,
       f.confidence_raw,
       f.calibration_source,
       f.calibration_as_of,
       f.prob_up,
       f.base_close,
       f.forecast_return,
       f.target_price,
       f.ci_lower,
       f.ci_upper,
       f.ci_level,
       f.model_version,
       f.weights_source,
       f.weights,
       f.supertrend_state,
       f.supertrend_line,
       f.nearest_support,
       f.nearest_resistance,
       f.dagster_run_id,
       f.created_at as run_at
from forecasts f
join {{ source('market', 'symbols') }} s on s.id = f.symbol_id
where s.is_active
