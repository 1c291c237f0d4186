{#-
    dbt's `where` config of a data test, with one placeholder resolved when the test runs (dbt's documented way to
    give `where` a value known only then):

    `__loads_since_last_build__` keeps the rows of the publication loads published since the last successful
    transform of a run (the run ledger's `transform` stage that built every source), so that the tests of an
    incremental model check the periods a build brought instead of every row already tested: their cost stays
    that of one period however much history the model holds. `dbt build --full-refresh`, a warehouse without a
    ledger, and a ledger with no such transform yet test every row. A test that failed keeps its loads unbuilt
    (the transform did not succeed), so the next build tests them again.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') or '' -%}
    {%- if '__loads_since_last_build__' in where -%}
        {%- set where = where | replace('__loads_since_last_build__', loads_since_last_build()) -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{% macro loads_since_last_build() -%}
    {%- set periods = source('publications', 'publication_periods') -%}
    {%- set events = source('ops', 'run_events') -%}
    {%- if not execute or flags.FULL_REFRESH -%}
        {{- return('1 = 1') -}}
    {%- endif -%}
    {%- set ledger = adapter.get_relation(
        database=events.database, schema=events.schema, identifier=events.identifier) -%}
    {%- if ledger is none -%}
        {{- return('1 = 1') -}}
    {%- endif -%}
    {%- set built -%}
        select max(built.occurred_at) from {{ events }} as built
        where
            built.stage = 'transform'
            and built.event_type = 'stage_completed'
            and built.status = 'success'
            and not exists (
                select 1 from {{ events }} as left_out
                where left_out.run_id = built.run_id and left_out.event_type = 'build_excluded'
            )
    {%- endset -%}
    {{- return(
        "load_id in (select published.load_id from " ~ periods ~ " as published where "
        ~ "published.published_at > coalesce((" ~ built ~ "), cast('1900-01-01' as timestamp)))"
    ) -}}
{%- endmacro %}
