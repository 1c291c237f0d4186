{#- Fails for every non-null value below min_value or above max_value (bounds inclusive, either may be left out:
    a missing bound compares the column with itself, which is never true). -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none) %}

with out_of_range as (
    select {{ column_name }}
    from {{ model }}
    where
        {{ column_name }} is not null
        and (
            {{ column_name }} < {{ min_value if min_value is not none else column_name }}
            or {{ column_name }} > {{ max_value if max_value is not none else column_name }}
        )
)

select * from out_of_range

{% endtest %}
