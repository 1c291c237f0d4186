{#-
    A column that only some periods of a source have (schema drift: a later release added it). Selects the column
    when the bronze table has it and a typed null otherwise, so staging builds before and after the release that
    added it. Staging is the one place that lists such columns; see the drift section of the README.
-#}
{% macro optional_column(relation, column, data_type='varchar') -%}
    {%- set present = [column | lower] if not execute else
        adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
    {{ column if column | lower in present else 'cast(null as ' ~ portable_type(data_type) ~ ')' }}
{%- endmacro %}
