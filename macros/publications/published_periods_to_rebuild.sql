{#-
    The periods of `publication` an incremental staging model rebuilds: those published (first time, or again) since
    the model was last built, read from the small publication_periods table rather than bronze itself.
-#}
{% macro published_periods_to_rebuild(publication) -%}
    {{ newer_periods(
        source('publications', 'publication_periods'), 'period', where="publication = '" ~ publication ~ "'"
    ) }}
{%- endmacro %}
