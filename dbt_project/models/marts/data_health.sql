{#- Data health per active symbol and timeframe: coverage, last bar, bars in the last N completed
    sessions against what the calendar implies, and freshness against SLAs (dbt vars).

Market-hours aware: US-equity staleness is counted in completed sessions of market.market_calendar
after the session of the last bar (a weekend or holiday is not staleness); crypto (24/7) staleness in
hours between the end of the last complete interval and the end of the last bar. Every active symbol
has at least a d1 row, so a symbol without any data shows up as critical. "Now" is var
data_health_as_of, or the database's now() (hence meta rebuild_after_minutes: the Dagster dbt step rebuilds it
when its last build is older, even with nothing new upstream; see assets/dbt_plan.py). -#}
{{ config(
    materialized='table',
    indexes=[{'columns': ['symbol_id', 'timeframe'], 'unique': True}],
    meta={'rebuild_after_minutes': 60},
) }}
{%- set window_sessions = var('data_health_window_sessions') | int -%}

with as_of as (
    select {{ as_of_timestamp('data_health_as_of') }} as ts
),

completed_sessions as (
    select c.market, c.date, c.open_utc, c.close_utc,
           row_number() over (partition by c.market order by c.date desc) as recency
    from {{ source('market', 'market_calendar') }} c
    cross join as_of
    where c.is_open and c.close_utc <= as_of.ts
),

{% for market in markets() %}
pairs_{{ market }} as (
    select s.id as symbol_id, s.ticker, s.market, tf.timeframe,
           cov.from_ts as coverage_from, cov.to_ts as coverage_to,
           cov.last_success_at, cov.last_provider,
           first_ds.session_date as first_session,
           last_ds.session_date as last_session,
           last_ds.end_ts as last_bar_ts,
           last_write.as_of_ts as last_written_at,
           win.window_sessions, win.bars_in_window, win.expected_bars_in_window
    from {{ source('market', 'symbols') }} s
    cross join lateral (
        select c.timeframe from {{ source(market, 'coverage_status') }} c where c.symbol_id = s.id
        union
        select 'd1'
    ) tf
    left join {{ source(market, 'coverage_status') }} cov
        on cov.symbol_id = s.id and cov.timeframe = tf.timeframe
    left join lateral (
        select d.session_date from {{ source(market, 'bar_datasets') }} d
        where d.symbol_id = s.id and d.timeframe = tf.timeframe and d.bar_count > 0
        order by d.session_date limit 1
    ) first_ds on true
    left join lateral (
        select d.session_date, d.end_ts from {{ source(market, 'bar_datasets') }} d
        where d.symbol_id = s.id and d.timeframe = tf.timeframe and d.bar_count > 0
        order by d.session_date desc limit 1
    ) last_ds on true
    left join lateral (
        select max(d.as_of_ts) as as_of_ts from {{ source(market, 'bar_datasets') }} d
        where d.symbol_id = s.id and d.timeframe = tf.timeframe and d.session_date >= last_ds.session_date
    ) last_write on true
    left join lateral (
        -- the last N completed sessions since the pair's first bar, and what they should hold
        select count(*) as window_sessions,
               coalesce(sum(ds.bar_count), 0) as bars_in_window,
               sum(case when {{ timeframe_minutes('tf.timeframe') }} is null then 1
                        else ceil(extract(epoch from cs.close_utc - cs.open_utc) / 60.0
                                  / {{ timeframe_minutes('tf.timeframe') }}) end)::bigint
                   as expected_bars_in_window
        from completed_sessions cs
        left join {{ source(market, 'bar_datasets') }} ds
            on ds.symbol_id = s.id and ds.timeframe = tf.timeframe and ds.session_date = cs.date
        where cs.market = '{{ market }}' and cs.recency <= {{ window_sessions }}
          and cs.date >= first_ds.session_date
    ) win on true
    where s.is_active and s.market = '{{ market }}'
),
{% endfor %}

pairs as (
    {% for market in markets() %}
    select * from pairs_{{ market }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

measured as (
    select p.*,
           exists (select 1 from completed_sessions cs where cs.market = p.market) as calendar_known,
           case when p.last_session is not null then
               (select count(*) from completed_sessions cs
                 where cs.market = p.market and cs.date > p.last_session)
           end as sessions_behind,
           case when p.last_bar_ts is not null then
               greatest(0.0, extract(epoch from (
                   case when {{ timeframe_minutes('p.timeframe') }} is not null
                        then date_bin({{ timeframe_minutes('p.timeframe') }} * interval '1 minute', as_of.ts,
                                      timestamptz '2000-01-01 00:00:00+00')
                        else date_trunc('day', as_of.ts at time zone 'UTC') at time zone 'UTC' end
                   - (p.last_bar_ts + {{ timeframe_interval('p.timeframe') }})
               )) / 3600.0)
           end as hours_behind,
           p.bars_in_window::double precision / nullif(p.expected_bars_in_window, 0) as coverage_ratio,
           as_of.ts as evaluated_as_of
    from pairs p
    cross join as_of
),

graded as (
    select m.*,
           case
               when m.last_bar_ts is null or not m.calendar_known then 'critical'
               when m.market = 'us_equity' then
                   case when m.sessions_behind >= {{ var('equity_critical_sessions_behind') }} then 'critical'
                        when m.sessions_behind >= {{ var('equity_warning_sessions_behind') }} then 'warning'
                        else 'healthy' end
               else
                   case when m.hours_behind >= {{ var('crypto_critical_hours_behind') }} then 'critical'
                        when m.hours_behind >= {{ var('crypto_warning_hours_behind') }} then 'warning'
                        else 'healthy' end
           end as freshness_status,
           case
               when m.coverage_ratio is null then (case when m.last_bar_ts is null then 'critical' else 'healthy' end)
               when m.coverage_ratio < {{ var('coverage_critical_ratio') }} then 'critical'
               when m.coverage_ratio < {{ var('coverage_warning_ratio') }} then 'warning'
               else 'healthy'
           end as completeness_status
    from measured m
)

select g.symbol_id,
       g.ticker,
       g.market,
       g.timeframe,
       g.coverage_from,
       g.coverage_to,
       g.last_success_at,
       g.last_provider,
       g.first_session,
       g.last_session,
       g.last_bar_ts,
       g.last_written_at,
       g.window_sessions,
       g.bars_in_window,
       g.expected_bars_in_window,
       g.coverage_ratio,
       g.sessions_behind,
       g.hours_behind,
       g.freshness_status,
       g.completeness_status,
       case when 'critical' in (g.freshness_status, g.completeness_status) then 'critical'
            when 'warning' in (g.freshness_status, g.completeness_status) then 'warning'
            else 'healthy' end as health_status,
       nullif(concat_ws('; ',
           case when g.last_bar_ts is null then 'no bars' end,
           case when not g.calendar_known then 'no completed sessions in market.market_calendar' end,
           case when g.freshness_status <> 'healthy' and g.market = 'us_equity' and g.sessions_behind is not null
                then g.sessions_behind || ' completed sessions after the last bar' end,
           case when g.freshness_status <> 'healthy' and g.market <> 'us_equity' and g.hours_behind is not null
                then round(g.hours_behind::numeric, 1) || ' hours behind' end,
           case when g.completeness_status <> 'healthy' and g.coverage_ratio is not null
                then g.bars_in_window || ' of ' || g.expected_bars_in_window || ' bars in the last '
                     || g.window_sessions || ' sessions' end
       ), '') as status_reason,
       g.evaluated_as_of
from graded g
