{#-
    The periods an incremental model rebuilds: those of `upstream` whose load is newer than any load the model
    holds (a period published for the first time, or published again), as a subquery for `period in (...)`.
    `upstream` is a small relation with one row per period and load where it can be (the publication's periods);
    `this` must have a `load_id` column. In a full build there is no `this` to compare with: every period is built.
-#}
{% macro newer_periods(upstream, period_column, load_id_column='load_id', where=none) -%}
    select {{ period_column }} from {{ upstream }}
    where {{ load_id_column }} > (select coalesce(max(load_id), '') from {{ this }})
    {%- if where %} and {{ where }}{% endif %}
{%- endmacro %}
