{#- Helpers shared by the models: the markets, per-market row filters, timeframe arithmetic. -#}

{% macro markets() -%}
    {{ return(['us_equity', 'crypto']) }}
{%- endmacro %}

{#- The ids of one market's symbols: filters the rows of a per-market source (see sources.yml). -#}
{% macro market_symbol_ids(market) -%}
    (select s.id from {{ source('market', 'symbols') }} s where s.market = '{{ market }}')
{%- endmacro %}

{#- The source table `name` of the features source of a market. -#}
{% macro features_source(market) -%}
    {{ source(market ~ '_features', 'feature_rows') }}
{%- endmacro %}

{#- Length in minutes of an intraday timeframe; NULL for d1 and longer. -#}
{% macro timeframe_minutes(tf) -%}
    (case {{ tf }} when 'm1' then 1 when 'm5' then 5 when 'm15' then 15 when 'h1' then 60
                   when 'h4' then 240 end)
{%- endmacro %}

{#- Length of a bar of the timeframe (bar end = ts + this). -#}
{% macro timeframe_interval(tf) -%}
    (case {{ tf }} when 'm1' then interval '1 minute' when 'm5' then interval '5 minutes'
                   when 'm15' then interval '15 minutes' when 'h1' then interval '1 hour'
                   when 'h4' then interval '4 hours' when 'd1' then interval '1 day'
                   when 'w1' then interval '7 days' when 'mo1' then interval '1 month' end)
{%- endmacro %}

{#- One Python feature by name: its position in the feature set's keys indexes the values array. -#}
{% macro feature_number(values_expr, keys_expr, key) -%}
    {{ values_expr }}[array_position({{ keys_expr }}, '{{ key }}')]
{%- endmacro %}

{#- A timestamptz literal from a var (ISO text), or the database's now() when the var is null. -#}
{% macro as_of_timestamp(var_name) -%}
    {%- set value = var(var_name, none) -%}
    {%- if value -%}
        '{{ value | string | replace("'", "''") }}'::timestamptz
    {%- else -%}
        now()
    {%- endif -%}
{%- endmacro %}
