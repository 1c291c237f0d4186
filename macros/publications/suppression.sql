{#-
    Publications put markers such as [c] (suppressed), [x] (not available) or * (unreliable) where a number would
    be. Staging turns a marked cell into null plus a flag; the markers come from var('suppression_markers').
-#}

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
