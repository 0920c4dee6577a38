{#- The combination of `columns` is unique (dbt_utils.unique_combination_of_columns, written here
    because hub packages cannot be installed). -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
