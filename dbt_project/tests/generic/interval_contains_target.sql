{#- Every forecast's target lies in its own interval: ci_lower <= target_price <= ci_upper. -#}
{% test interval_contains_target(model) %}
select symbol_id, horizon, ci_lower, target_price, ci_upper
from {{ model }}
where not (ci_lower <= target_price and target_price <= ci_upper)
{% endtest %}
