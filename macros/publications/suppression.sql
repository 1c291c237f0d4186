{#-
    Publications put markers such as [c] (suppressed), [x] (not available) or * (unreliable) where a number would
    be. Staging turns a marked cell into null plus a flag; the markers come from var('suppression_markers').
-#}

{#- Values as a SQL list of quoted text: 'a', 'b' -#}
{% macro quoted_text_list(values) -%}
    {%- for value in values -%}
        '{{ value | replace("'", "''") }}'{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{% macro is_suppressed(column) -%}
    coalesce(trim({{ column }}) in ({{ quoted_text_list(var('suppression_markers')) }}), false)
{%- endmacro %}

{#- A cell whose formula failed in the spreadsheet (#DIV/0!, #N/A, ...): the values come from
    var('spreadsheet_error_values'). -#}
{% macro is_error_cell(column) -%}
    coalesce(trim({{ column }}) in ({{ quoted_text_list(var('spreadsheet_error_values')) }}), false)
{%- endmacro %}

{% macro suppressed_number(column, data_type) -%}
    case
        when {{ is_numeric_text('trim(' ~ column ~ ')') }}
            then cast(cast(trim({{ column }}) as numeric(38, 6)) as {{ data_type }})
    end
{%- endmacro %}

{#- True when a text value is a plain decimal number: the regex syntax differs between engines. -#}
{% macro is_numeric_text(expression) -%}
    {{ return(adapter.dispatch('is_numeric_text', 'declarative_analytics')(expression)) }}
{%- endmacro %}

{% macro default__is_numeric_text(expression) -%}
    coalesce({{ expression }} ~ '^-?[0-9]+(\.[0-9]+)?$', false)
{%- endmacro %}

{% macro duckdb__is_numeric_text(expression) -%}
    coalesce(regexp_full_match({{ expression }}, '-?[0-9]+(\.[0-9]+)?'), false)
{%- endmacro %}

{#- '2025-06' -> date '2025-06-01' -#}
{% macro period_month(column) -%}
    cast({{ dbt.concat([column, "'-01'"]) }} as date)
{%- endmacro %}
