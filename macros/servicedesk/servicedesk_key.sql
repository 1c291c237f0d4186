{#-
    A service-desk record's key across systems: `<source_system>:<id>` (redmine:42), so ids of two systems never
    collide; null where the id is null (an unassigned ticket).
-#}
{% macro servicedesk_key(system_column, id_column) -%}
    case when {{ id_column }} is not null then {{ system_column }} || ':' || cast({{ id_column }} as {{ text_type() }}) end
{%- endmacro %}
