{#- Per market, horizon and model: the figures of the newest performance window (ml.model_performance_history,
    daily horizons from <market>/model_performance, intraday ones from <market>/intraday_model_performance)
    beside the baselines of the same window: the best baseline by hit rate (persistence, always-up,
    up-frequency; zero return has no direction) and zero return's MAE, so every model row says whether it
    beats them. Baselines are rows of their own here too (is_baseline). A view: the newest window of a
    (market, horizon) is found through the table's (market, horizon, as_of_date desc) index. -#}
{{ config(materialized='view') }}

with performance as (
    {% for market in markets() %}
    select p.* from {{ source(market ~ '_evaluations', 'model_performance_history') }} p
    where p.market = '{{ market }}' and p.horizon in ('1D', '5D', '10D', '20D')
    union all
    select p.* from {{ source(market ~ '_intraday_evaluations', 'model_performance_history') }} p
    where p.market = '{{ market }}' and p.horizon in ('15m', '1h')
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),
latest as (
    select market, horizon, max(as_of_date) as as_of_date from performance group by market, horizon
),
window_rows as (
    select p.* from performance p join latest l using (market, horizon, as_of_date)
),
best_baseline as (
    select distinct on (market, horizon) market, horizon, model as best_baseline,
           hit_rate as best_baseline_hit_rate
    from window_rows
    where is_baseline and hit_rate is not null
    order by market, horizon, hit_rate desc, model
),
zero as (
    select market, horizon, mae as zero_mae, coverage as zero_coverage from window_rows where model = 'zero'
)
select w.market,
       w.horizon,
       w.model,
       w.is_baseline,
       w.as_of_date,
       w.window_sessions,
       w.window_start,
       w.window_end,
       w.n,
       w.n_symbols,
       w.hit_rate,
       w.hit_low,
       w.hit_high,
       b.best_baseline,
       b.best_baseline_hit_rate,
       w.hit_rate - b.best_baseline_hit_rate as hit_rate_vs_best_baseline,
       coalesce(w.hit_low > b.best_baseline_hit_rate, false) as beats_best_baseline,
       w.mae,
       w.rmse,
       z.zero_mae,
       case when z.zero_mae > 0 then 1 - w.mae / z.zero_mae end as mae_skill_vs_zero,
       w.ic,
       w.rank_ic,
       w.icir,
       w.rank_ic_days,
       w.coverage,
       z.zero_coverage,
       w.ece,
       w.brier
from window_rows w
left join best_baseline b using (market, horizon)
left join zero z using (market, horizon)
