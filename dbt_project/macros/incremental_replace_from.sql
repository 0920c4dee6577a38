{#- Incremental strategy `replace_from`: the model's batch holds, per (symbol_id, timeframe), every row
    from some ts on. Target rows of those pairs from that ts on are deleted (including rows whose bars
    no longer exist), then the batch is inserted: a per-pair range replacement, in one transaction. -#}
{% macro get_incremental_replace_from_sql(arg_dict) %}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set batch = arg_dict["temp_relation"] -%}
    {%- set columns = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    analyze {{ batch }};  -- statistics, so the delete probes the target's index per pair

    delete from {{ target }} t
    using (select symbol_id, timeframe, min(ts) as from_ts
           from {{ batch }} group by symbol_id, timeframe) r
    where t.symbol_id = r.symbol_id and t.timeframe = r.timeframe and t.ts >= r.from_ts;

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ batch }};
{% endmacro %}
