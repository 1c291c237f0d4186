{#-
    dbt's `where` config of a data test, with one placeholder resolved when the test runs (dbt's documented way to
    give `where` a value known only then):

    `__loads_since_last_build__` keeps the rows of the publication loads published since the last successful
    transform of a run (the run ledger's `transform` stage that built every source), named by their periods and
    load ids as literals (the model has `period` and `load_id` columns), so that the tests of an
    incremental model check the periods a build brought instead of every row already tested: their cost stays
    that of one period however much history the model holds. `__bronze_loads_since_last_build__` is the same for
    a source test on a bronze table (its `_period` and `_dlt_load_id` columns, `_period` indexed on PostgreSQL). `dbt build --full-refresh`, a warehouse without a
    ledger, and a ledger with no such transform yet test every row. A test that failed keeps its loads unbuilt
    (the transform did not succeed), so the next build tests them again.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') or '' -%}
    {%- if '__bronze_loads_since_last_build__' in where -%}
        {%- set where = where | replace(
            '__bronze_loads_since_last_build__', loads_since_last_build('_period', '_dlt_load_id')) -%}
    {%- endif -%}
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

{% macro loads_since_last_build(period_column='period', load_column='load_id') -%}
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
    {%- set loads -%}
        select published.period, published.load_id from {{ periods }} as published
        where published.published_at > coalesce((
            select max(built.occurred_at) from {{ events }} as built
            where
                built.stage = 'transform'
                and built.event_type = 'stage_completed'
                and built.status = 'success'
                and not exists (
                    select 1 from {{ events }} as left_out
                    where left_out.run_id = built.run_id and left_out.event_type = 'build_excluded'
                )
        ), cast('1900-01-01' as timestamp))
    {%- endset -%}
    {%- set found = run_query(loads) -%}
    {%- if found.rows | length == 0 -%}
        {{- return('1 = 0') -}}
    {%- endif -%}
    {%- set period_list, load_list = [], [] -%}
    {%- for row in found.rows -%}
        {%- do period_list.append("'" ~ (row[0] | string | replace("'", "''")) ~ "'") -%}
        {%- do load_list.append("'" ~ (row[1] | string | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {#- literals, period first: PostgreSQL reaches the rows through the (period, load_id) or _period index -#}
    {{- return(
        period_column ~ " in (" ~ period_list | unique | join(', ') ~ ") and " ~ load_column ~ " in ("
        ~ load_list | join(', ') ~ ")"
    ) -}}
{%- endmacro %}
