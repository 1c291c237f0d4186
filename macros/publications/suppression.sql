{#-
    Publications put markers such as [c] (suppressed), [x] (not available) or * (unreliable) where a number would
    be. Staging turns a marked cell into null plus a flag; the markers come from var('suppression_markers').
-#}

{% macro suppression_marker_list() -%}
    {%- for marker in var('suppression_markers') -%}
        '{{ marker | replace("'", "''") }}'{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{% macro is_suppressed(column) -%}
    coalesce(trim({{ column }}) in ({{ suppression_marker_list() }}), false)
{%- endmacro %}

{#- A cell whose formula failed in the spreadsheet (#DIV/0!, #N/A, ...): the values come from
    var('spreadsheet_error_values'). -#}
{% macro error_value_list() -%}
    {%- for value in var('spreadsheet_error_values') -%}
        '{{ value | replace("'", "''") }}'{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{% macro is_error_cell(column) -%}
    coalesce(trim({{ column }}) in ({{ error_value_list() }}), false)
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
