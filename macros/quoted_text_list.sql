{#- Values as a SQL list of quoted text, quotes doubled: ['a', "o'k"] -> 'a', 'o''k' -#}
{% macro quoted_text_list(values) -%}
    {%- for value in values -%}
        '{{ value | replace("'", "''") }}'{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}
