{#- Option chain health per active underlying of a market with options: freshness of the newest snapshot
    (hours since it was taken, sessions behind the newest completed session), contracts in it, and the
    share of contracts quarantined on that day. health_status: critical without any snapshot or more than
    one completed session behind, warning one session behind or above 1% quarantined, else ok. Reads the
    clock (now()): rebuilt by the Dagster dbt step once older than meta rebuild_after_minutes. -#}
{{ config(materialized='table', meta={'rebuild_after_minutes': 60}) }}

with underlyings as (
    select id as symbol_id, market, ticker
    from {{ source('market', 'symbols') }}
    where is_active and market like 'us_equity%'
),

newest as (
    select u.symbol_id, l.snapshot_date, l.snapshot_ts
    from underlyings u
    cross join lateral (
        select snapshot_date, snapshot_ts
        from {{ source('us_equity_options', 'options_chain_snapshots') }}
        where underlying_symbol_id = u.symbol_id
        order by snapshot_date desc, snapshot_ts desc
        limit 1
    ) l
),

contracts as (
    select n.symbol_id, count(*) as contracts, count(c.implied_volatility) as contracts_with_iv
    from newest n
    join {{ source('us_equity_options', 'options_chain_snapshots') }} c
      on c.underlying_symbol_id = n.symbol_id and c.snapshot_date = n.snapshot_date and c.snapshot_ts = n.snapshot_ts
    group by n.symbol_id
),

quarantined as (
    select n.symbol_id, count(q.id) as quarantined
    from newest n
    left join {{ source('us_equity_options_ops', 'option_chain_quarantine') }} q
      on q.underlying_symbol_id = n.symbol_id and q.snapshot_date = n.snapshot_date and q.snapshot_ts = n.snapshot_ts
     and q.reason <> 'identical duplicate (collapsed)'
    group by n.symbol_id
),

completed as (
    select max(date) as last_completed
    from {{ source('market', 'market_calendar') }}
    where market = 'us_equity' and is_open and close_utc <= now()
),

graded as (
    select
        u.symbol_id, u.market, u.ticker,
        n.snapshot_date as last_snapshot_date,
        n.snapshot_ts as last_snapshot_ts,
        extract(epoch from now() - n.snapshot_ts) / 3600.0 as hours_since_snapshot,
        (select count(*) from {{ source('market', 'market_calendar') }} mc, completed
          where mc.market = 'us_equity' and mc.is_open and mc.date > n.snapshot_date
            and mc.date <= completed.last_completed) as sessions_behind,
        coalesce(c.contracts, 0) as contracts,
        coalesce(c.contracts_with_iv, 0) as contracts_with_iv,
        coalesce(q.quarantined, 0) as quarantined,
        case when coalesce(c.contracts, 0) + coalesce(q.quarantined, 0) = 0 then 0.0
             else coalesce(q.quarantined, 0)::double precision / (coalesce(c.contracts, 0) + coalesce(q.quarantined, 0))
        end as quarantined_share
    from underlyings u
    left join newest n on n.symbol_id = u.symbol_id
    left join contracts c on c.symbol_id = u.symbol_id
    left join quarantined q on q.symbol_id = u.symbol_id
)

select
    *,
    case
        when last_snapshot_date is null or sessions_behind > 1 then 'critical'
        when sessions_behind = 1 or quarantined_share > 0.01 then 'warning'
        else 'ok'
    end as health_status,
    now() as refreshed_at
from graded
