{#- Rows where a SQL value and its Python counterpart differ by more than `tolerance` (relative, at
    least absolute for values below 1); used by the generic tests sma_matches_python and matches_python. -#}
{% macro python_mismatches(model, column_name, python_expression, tolerance) %}
select symbol_id, timeframe, ts, sql_value, python_value
from (select symbol_id, timeframe, ts, {{ column_name }} as sql_value, ({{ python_expression }}) as python_value
      from {{ model }}) compared
where sql_value is not null
  and python_value is not null
  and abs(sql_value - python_value) > {{ tolerance }} * greatest(1.0, abs(python_value))
{% endmacro %}
