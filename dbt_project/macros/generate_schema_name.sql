{#- Models land in exactly the schema they configure (`analytics`), not dbt's default
    `<target schema>_<custom schema>`; without a custom schema, the target's schema. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
