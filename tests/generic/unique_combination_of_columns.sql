{#- Fails for every combination of the given columns that occurs more than once (a composite primary key). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with duplicates as (
    select
        {{ combination_of_columns | join(', ') }},
        count(*) as occurrences
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1
)

select * from duplicates

{% endtest %}
