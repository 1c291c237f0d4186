{#- True when a text value is a plain decimal number (-12, 3.5): the regex syntax differs between engines. -#}
{% macro is_numeric_text(expression) -%}
    {{ return(adapter.dispatch('is_numeric_text', 'declarative_analytics')(expression)) }}
{%- endmacro %}

{% macro default__is_numeric_text(expression) -%}
    coalesce({{ expression }} ~ '^-?[0-9]+(\.[0-9]+)?$', false)
{%- endmacro %}

{% macro duckdb__is_numeric_text(expression) -%}
    coalesce(regexp_full_match({{ expression }}, '-?[0-9]+(\.[0-9]+)?'), false)
{%- endmacro %}

{% macro spark__is_numeric_text(expression) -%}
    coalesce({{ expression }} rlike '^-?[0-9]+(\\.[0-9]+)?$', false)
{%- endmacro %}
