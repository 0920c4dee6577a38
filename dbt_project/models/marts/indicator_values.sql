{#- SQL indicators per symbol, timeframe and bar on adjusted prices, joined with the Python feature rows.

Full build: every bar of bars_adjusted. Incremental build (strategy replace_from): per (symbol_id,
timeframe), the first bar that may have changed since the previous build is found from watermarks, never
by reading every row:
  * pairs not built yet (everything),
  * a changed corporate-action fingerprint of the symbol (everything: adjusted history moves),
  * sessions (re)written after the previous build (market.bar_datasets.as_of_ts; w1/mo1 follow d1),
  * bars after the last built bar (e.g. written without a dataset row),
  * feature rows (re)computed after the previous build started (ml.feature_rows.computed_at, index of
    migration 0019), with `indicator_recompute_overlap_hours` of overlap for writes still in flight then;
then the pair's bars are recomputed from one bar before it (so a pair always appears in the batch)
with `indicator_lookback_bars` earlier bars (and the session's start) as window context, and the
target's rows of the pair from that bar on are replaced. Feature rows deleted without being rewritten
(nothing in the project does that) need `dbt build --full-refresh`, which rebuilds it all.

Indexes: (symbol_id, timeframe, ts) unique, for chart queries and the incremental bookkeeping;
_built_at, so the tests read only the rows recent builds wrote, and the previous build's start is one
index probe; (post-hook) a partial index of the rows built with features.

No merge joins (pre-hook): the indicator rows come sorted by (symbol_id, timeframe, session_date, ts) from
the windows, so a merge join with the feature rows can match only on (symbol_id, timeframe) and compares
every bar of a pair with every feature row of it (minutes for a recomputed history); hash joins instead.
No JIT (pre-hook): the plan spans every monthly partition of the bars, and its estimated cost is far above
jit_above_cost, so PostgreSQL compiled ~5,800 functions per build: 62.5 s of a 65 s incremental build at
2M bars (EXPLAIN ANALYZE, JIT timing), for a query that runs in ~3 s interpreted. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_from',
    on_schema_change='fail',
    indexes=[
        {'columns': ['symbol_id', 'timeframe', 'ts'], 'unique': True},
        {'columns': ['_built_at']},
    ],
    pre_hook=["set local work_mem = '" ~ var('indicator_work_mem') ~ "'", "set local enable_mergejoin = off",
              "set local jit = off"],
    post_hook=[{
        'sql': 'create index if not exists ' ~ this.identifier ~ '_features_idx on ' ~ this
               ~ ' (symbol_id, timeframe, ts) include (_features_hash) where _features_hash is not null',
        'transaction': false,
    }],
) }}
{%- set lookback = var('indicator_lookback_bars') | int -%}
{%- set overlap_hours = var('indicator_recompute_overlap_hours') | int -%}
{%- set feature_columns = var('python_feature_columns') -%}

with adjustment_fingerprints as (
    -- changes whenever any factor of the symbol's adjusted history changes (new, edited or removed
    -- corporate action, or a rewritten previous close of a dividend)
    select s.id as symbol_id,
           md5(coalesce(string_agg(af.ex_date::text || ':' || af.action_type || ':' || af.price_factor::text
                                   || ':' || af.volume_factor::text, ',' order by af.ex_date, af.action_type),
                        '')) as fingerprint
    from {{ source('market', 'symbols') }} s
    left join {{ source('us_equity', 'adjustment_factors') }} af on af.symbol_id = s.id
    group by s.id
),

{% if is_incremental() %}
feature_changes as (
    -- feature rows (re)computed since the previous build started: an index range scan of computed_at
    {% for market in markets() %}
    select fr.symbol_id, fr.timeframe, min(fr.ts) as from_ts
    from {{ features_source(market) }} fr
    where fr.computed_at > (select max(t._built_at) from {{ this }} t) - interval '{{ overlap_hours }} hours'
      and fr.symbol_id in {{ market_symbol_ids(market) }}
    group by 1, 2
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

{% for market in markets() %}
changes_{{ market }} as (
    select p.symbol_id, p.timeframe,
           least(
               case when last_row.ts is null
                         or last_row._adjustment_fingerprint is distinct from fp.fingerprint
                    then '-infinity'::timestamptz end,
               (select min(b.ts) from {{ source(market, 'ohlc_bars') }} b
                 where b.symbol_id = p.symbol_id and b.timeframe = p.timeframe and b.ts > last_row.ts),
               (select (case p.timeframe when 'w1' then date_trunc('week', min(d.session_date))::date
                                         when 'mo1' then date_trunc('month', min(d.session_date))::date
                                         else min(d.session_date) end)::timestamp at time zone 'UTC'
                       - interval '1 day'
                  from {{ source(market, 'bar_datasets') }} d
                 where d.symbol_id = p.symbol_id
                   and d.timeframe = (case when p.timeframe in ('w1', 'mo1') then 'd1' else p.timeframe end)
                   and d.as_of_ts > last_row._built_at - interval '{{ overlap_hours }} hours'),
               fc.from_ts
           ) as from_ts
    from (
        -- the pairs that have bars: fetched timeframes per coverage_status, w1/mo1 derived from d1
        select c.symbol_id, c.timeframe from {{ source(market, 'coverage_status') }} c
        where c.symbol_id in {{ market_symbol_ids(market) }}
        union
        select c.symbol_id, derived.timeframe from {{ source(market, 'coverage_status') }} c
        cross join (values ('w1'), ('mo1')) as derived(timeframe)
        where c.timeframe = 'd1' and c.symbol_id in {{ market_symbol_ids(market) }}
    ) p
    join adjustment_fingerprints fp on fp.symbol_id = p.symbol_id
    left join lateral (
        select t.ts, t._built_at, t._adjustment_fingerprint
        from {{ this }} t
        where t.symbol_id = p.symbol_id and t.timeframe = p.timeframe
        order by t.ts desc
        limit 1
    ) last_row on true
    left join feature_changes fc on fc.symbol_id = p.symbol_id and fc.timeframe = p.timeframe
),

ranges_{{ market }} as (
    -- emit from the bar before the first changed one; window context from `lookback` bars before that
    -- (or the start of its session, for the session VWAP)
    select c.symbol_id, c.timeframe,
           coalesce(anchor.ts, c.from_ts) as emit_from,
           case when anchor.ts is null or ctx.ts is null then '-infinity'::timestamptz
                else least(ctx.ts, session_start.ts) end as context_from
    from changes_{{ market }} c
    left join lateral (
        select b.ts, b.session_date from {{ source(market, 'ohlc_bars') }} b
        where b.symbol_id = c.symbol_id and b.timeframe = c.timeframe and b.ts < c.from_ts
        order by b.ts desc limit 1
    ) anchor on true
    left join lateral (
        select b.ts from {{ source(market, 'ohlc_bars') }} b
        where b.symbol_id = c.symbol_id and b.timeframe = c.timeframe and b.ts < anchor.ts
        order by b.ts desc offset {{ lookback - 1 }} limit 1
    ) ctx on true
    left join lateral (
        -- a session lasts at most a day: the ts bounds prune the monthly partitions
        select min(b.ts) as ts from {{ source(market, 'ohlc_bars') }} b
        where b.symbol_id = c.symbol_id and b.timeframe = c.timeframe and b.session_date = anchor.session_date
          and b.ts <= anchor.ts and b.ts > anchor.ts - interval '2 days'
    ) session_start on true
    where c.from_ts is not null
),
{% endfor %}

ranges as (
    {% for market in markets() %}
    select * from ranges_{{ market }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

bars as (
    -- lateral: per range an index scan of its bars (never a scan of every bar)
    select b.*, r.emit_from
    from ranges r
    cross join lateral (
        select * from {{ ref('bars_adjusted') }} a
        where a.symbol_id = r.symbol_id and a.timeframe = r.timeframe and a.ts >= r.context_from
        offset 0  -- keeps the subquery a per-range index scan (not flattened into a hash join)
    ) b
),
{% else %}
bars as (
    select b.*, '-infinity'::timestamptz as emit_from
    from {{ ref('bars_adjusted') }} b
),
{% endif %}

current_features as (
    -- per bar, the row of the newest feature set that has one (incremental: the ranges' bars only, through
    -- the (symbol_id, timeframe, session_date) index)
    {% for market in markets() %}
    select * from (
        select distinct on (fr.symbol_id, fr.timeframe, fr.ts)
               fr.symbol_id, fr.timeframe, fr.ts, fr.feature_set_id, fr.warmup_complete, fr.feature_values,
               fs.feature_keys,
               md5(fr.feature_set_id::text || ':' || fr.warmup_complete::text || ':' || fr.feature_values::text)
                   as features_hash
        from {{ features_source(market) }} fr
        join {{ source(market ~ '_features', 'feature_sets') }} fs on fs.id = fr.feature_set_id
        {% if is_incremental() %}
        join ranges r on r.symbol_id = fr.symbol_id and r.timeframe = fr.timeframe
                     and fr.session_date >= (r.emit_from at time zone 'UTC')::date - 1
                     and fr.ts >= r.emit_from
        {% endif %}
        where fr.symbol_id in {{ market_symbol_ids(market) }}
        order by fr.symbol_id, fr.timeframe, fr.ts, fr.feature_set_id desc
    ) f_{{ market }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

windowed as (
    select bars.*,
           lag(close) over w as prev_close,
           lag(high) over w as prev_high,
           lag(low) over w as prev_low,
           lag(close, 5) over w as close_5_back,
           lag(close, 20) over w as close_20_back,
           case when count(close) over w20 = 20 then avg(close) over w20 end as sma_20,
           case when count(close) over w50 = 50 then avg(close) over w50 end as sma_50,
           ln(close / lag(close) over w) as log_return_1,
           sum(coalesce(vwap, (high + low + close) / 3.0) * volume) over ws as session_pv,
           sum(volume) over ws as session_volume
    from bars
    -- ordering by (session_date, ts) equals ordering by ts, and lets every window share one sort
    window w as (partition by symbol_id, timeframe order by session_date, ts),
           w20 as (w rows between 19 preceding and current row),
           w50 as (w rows between 49 preceding and current row),
           ws as (partition by symbol_id, timeframe, session_date order by ts
                  rows between unbounded preceding and current row)
),

indicators as (
    select windowed.*,
           case when count(log_return_1) over w20 = 20 then stddev_samp(log_return_1) over w20 end
               as volatility_20,
           (high + low + close) / 3.0 as typical_price,
           (prev_high + prev_low + prev_close) / 3.0 as pivot_pp
    from windowed
    window w20 as (partition by symbol_id, timeframe order by session_date, ts
                   rows between 19 preceding and current row)
)

select i.symbol_id,
       i.market,
       i.ticker,
       i.timeframe,
       i.ts,
       i.session_date,
       i.open,
       i.high,
       i.low,
       i.close,
       i.volume,
       i.vwap,
       i.adjustment_factor,
       i.prev_close,
       i.close / i.prev_close - 1 as return_1,
       i.close / i.close_5_back - 1 as return_5,
       i.close / i.close_20_back - 1 as return_20,
       i.log_return_1,
       i.sma_20,
       i.sma_50,
       i.volatility_20,
       case when {{ timeframe_minutes('i.timeframe') }} is not null
            then i.session_pv / nullif(i.session_volume, 0)
            else coalesce(i.vwap, i.typical_price) end as session_vwap,
       i.pivot_pp,
       2 * i.pivot_pp - i.prev_low as pivot_r1,
       2 * i.pivot_pp - i.prev_high as pivot_s1,
       i.pivot_pp + (i.prev_high - i.prev_low) as pivot_r2,
       i.pivot_pp - (i.prev_high - i.prev_low) as pivot_s2,
       i.prev_high + 2 * (i.pivot_pp - i.prev_low) as pivot_r3,
       i.prev_low - 2 * (i.prev_high - i.pivot_pp) as pivot_s3,
       {% for column, key in feature_columns.items() %}
       {{ feature_number('f.feature_values', 'f.feature_keys', key) }} as {{ column }},
       {% endfor %}
       f.feature_set_id,
       f.warmup_complete as features_warmup_complete,
       f.features_hash as _features_hash,
       fp.fingerprint as _adjustment_fingerprint,
       now() as _built_at
from indicators i
join adjustment_fingerprints fp on fp.symbol_id = i.symbol_id
left join current_features f on f.symbol_id = i.symbol_id and f.timeframe = i.timeframe and f.ts = i.ts
where i.ts >= i.emit_from
