{#- Bar-like models: high >= low, and (by default) open and close inside [low, high]. Returns the
    offending rows. -#}
{% test high_gte_low(model, high='high', low='low', open='open', close='close', check_open_close=true) %}
select *
from {{ model }}
where {{ high }} < {{ low }}
{% if check_open_close %}
   or {{ open }} > {{ high }} or {{ open }} < {{ low }}
   or {{ close }} > {{ high }} or {{ close }} < {{ low }}
{% endif %}
{% endtest %}
