{#- Within each group of `group_by` columns, `column_name` never decreases along `order_by` (a monotone
    curve: a calibration map must keep the order of the confidences it maps). -#}
{% test non_decreasing(model, column_name, group_by, order_by, tolerance=1.0e-12) %}
select *
from (
    select {{ group_by | join(', ') }}, {{ order_by }}, {{ column_name }},
           lag({{ column_name }}) over (partition by {{ group_by | join(', ') }} order by {{ order_by }}) as previous
    from {{ model }}
) ordered
where {{ column_name }} < previous - {{ tolerance }}
{% endtest %}
