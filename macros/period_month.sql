{#- A monthly period's text as the first day of its month: '2025-06' -> date '2025-06-01'. -#}
{% macro period_month(column) -%}
    cast({{ dbt.concat([column, "'-01'"]) }} as date)
{%- endmacro %}
