{#- Fails when the column holds no non-null value at all (an empty model or an all-null column) while
    `when_rows_in` (a relation the model is built from) holds rows; without `when_rows_in`, whenever it is empty.
    A warehouse whose bronze was created empty (`ingestion init`) builds; a model emptied by a bug does not. -#}
{% test at_least_one(model, column_name, when_rows_in=none) %}

select count({{ column_name }}) as filled_count
from {{ model }}
having
    count({{ column_name }}) = 0
    and {{ "exists (select 1 from " ~ when_rows_in ~ ")" if when_rows_in is not none else "true" }}

{% endtest %}
