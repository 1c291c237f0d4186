{#- Fails when the column holds no non-null value at all (an empty model or an all-null column). -#}
{% test at_least_one(model, column_name) %}

select count({{ column_name }}) as filled_count
from {{ model }}
having count({{ column_name }}) = 0

{% endtest %}
