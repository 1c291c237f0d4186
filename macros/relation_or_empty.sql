{#-
    The relation when it exists, otherwise `empty_select` (a select of typed nulls with the same columns, returning
    no rows) as a derived table, so a model can read a table that appears only after some first load (such as
    ops.servicedesk_load_figures, created by the first service-desk load).
-#}
{% macro relation_or_empty(relation, empty_select) -%}
    {%- set found = not execute or adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier) is not none -%}
    {{ relation if found else "(" ~ empty_select ~ ") as empty_relation" }}
{%- endmacro %}
