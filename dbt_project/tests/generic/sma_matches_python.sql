{#- SQL indicator values equal what the Python feature code computed, within a relative tolerance, on
    every bar where both exist. Fails when the two implementations disagree, or when the Python features
    were computed from other prices (e.g. before a corporate action changed the adjusted history).
    python_expression: SQL over the model's columns giving the Python value (e.g. `py_ma_20 * close`).
    The query is macros/python_mismatches.sql. -#}
{#- The SQL SMA equals the Python one (Alpha158 `ma_20` is the mean of 20 closes / close). -#}
{% test sma_matches_python(model, column_name, python_expression, tolerance=1e-9) %}
{{ python_mismatches(model, column_name, python_expression, tolerance) }}
{% endtest %}

{#- Any SQL indicator equals its Python counterpart. -#}
{% test matches_python(model, column_name, python_expression, tolerance=1e-9) %}
{{ python_mismatches(model, column_name, python_expression, tolerance) }}
{% endtest %}
