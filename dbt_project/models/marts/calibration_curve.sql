{#- The newest calibration curve of each market, horizon and model (ml.ml_confidence_calibration, written by
    <market>/confidence_calibration): per bucket of stated confidence the mean stated confidence
    (predicted), the realised rate (actual), n, the isotonic fit (calibrated) and the adjustment, with the
    window's ECE before and after. What a reliability diagram plots; the ensemble of the next session maps
    its confidence through the ensemble's curve. A view over the table's (market, model_type, horizon,
    as_of_date desc) index. -#}
{{ config(materialized='view') }}

with curves as (
    {% for market in markets() %}
    select c.* from {{ source(market ~ '_evaluations', 'ml_confidence_calibration') }} c
    where c.market = '{{ market }}'
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),
latest as (
    select market, horizon, model_type, max(as_of_date) as as_of_date
    from curves group by market, horizon, model_type
)
select c.market,
       c.horizon,
       c.model_type,
       c.as_of_date,
       c.method,
       c.bucket,
       c.bucket_lower,
       c.bucket_upper,
       c.predicted,
       c.actual,
       c.n,
       c.calibrated,
       c.adjustment,
       c.n_window,
       c.ece_before,
       c.ece_after,
       c.window_start,
       c.window_end
from curves c
join latest l using (market, horizon, model_type, as_of_date)
