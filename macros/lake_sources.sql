{#-
    The sources, over the Parquet lake the ingestion writes with dlt's filesystem destination, on an engine that
    reads them where they lie (Spark). Run by on-run-start; on DuckDB and PostgreSQL the sources are the tables
    the ingestion writes, and this does nothing.

    For each source table of the project, `<lake>/<schema>/<table>/` holds its Parquet files (dlt's layout:
    `<load_id>.<file_id>.parquet`): it becomes the external table `<schema>.<table>__lake` (made again on each
    run, so a column a later release added is seen: Spark merges the files' schemas), and the source itself,
    `<schema>.<table>`, a view over it that shows what the source's `meta.lake` declares:

    - `committed_by: <table>`: only the rows of loads that table lists as current (`load_id`), one per period: a
      period's files are written first and made current by the one file that names its load, so a reader never
      sees half a period, nor a period twice (ingestion/lake.py); `load_column` names the column holding a row's
      load (default `_dlt_load_id`);
    - `latest_by: [key expressions]`: one row per key, the one of the latest load (a service desk's records,
      loaded incrementally and appended: the lake has no merge without Delta or Iceberg);
    - neither: every row (the ledger's mirror, the periods table itself).

    The lake's root is ANALYTICS_LAKE_URL (default data/lake), the folder or bucket the ingestion gives dlt.
-#}
{% macro lake_sources() -%}
    {{ return(adapter.dispatch('lake_sources', 'declarative_analytics')()) }}
{%- endmacro %}

{% macro default__lake_sources() -%}
    select 1
{%- endmacro %}

{% macro spark__lake_sources() -%}
    {#- docs generate compiles its nodes while this runs: it reads the tables the last build made -#}
    {%- if execute and flags.WHICH != 'generate' -%}
        {%- set lake = env_var('ANALYTICS_LAKE_URL', 'data/lake').rstrip('/') -%}
        {%- set tables = [] -%}
        {%- for node in graph.sources.values() if node.package_name == project_name -%}
            {%- do tables.append(node) -%}
        {%- endfor -%}
        {%- for schema in tables | map(attribute='schema') | unique -%}
            {%- do run_query('create schema if not exists ' ~ schema) -%}
        {%- endfor -%}
        {#- the files first: a view names the table its periods are committed by -#}
        {%- for node in tables -%}
            {%- do run_query('drop table if exists ' ~ node.schema ~ '.' ~ node.identifier ~ '__lake') -%}
            {%- do run_query(
                "create table " ~ node.schema ~ "." ~ node.identifier ~ "__lake using parquet "
                ~ "options (mergeSchema 'true', pathGlobFilter '*.parquet') "
                ~ "location '" ~ lake ~ "/" ~ node.schema ~ "/" ~ node.identifier ~ "'") -%}
        {%- endfor -%}
        {%- for node in tables -%}
            {%- set declared = {} -%}
            {%- do declared.update(node.source_meta.get('lake', {})) -%}
            {%- do declared.update(node.meta.get('lake', {})) -%}
            {%- set files = node.schema ~ '.' ~ node.identifier ~ '__lake' -%}
            {%- if declared.get('committed_by') -%}
                {%- set shown = "select * from " ~ files ~ " where " ~ declared.get('load_column', '_dlt_load_id')
                    ~ " in (select load_id from " ~ node.schema ~ "." ~ declared.committed_by ~ "__lake)" -%}
            {%- elif declared.get('latest_by') -%}
                {%- set versions = "select _dlt_id, row_number() over (partition by " ~ declared.latest_by | join(", ")
                    ~ " order by _dlt_load_id desc, _dlt_id desc) as version from " ~ files -%}
                {%- set shown = "select * from " ~ files ~ " where _dlt_id in (select _dlt_id from (" ~ versions
                    ~ ") as versions where version = 1)" -%}
            {%- else -%}
                {%- set shown = 'select * from ' ~ files -%}
            {%- endif -%}
            {%- do run_query('create or replace view ' ~ node.schema ~ '.' ~ node.identifier ~ ' as ' ~ shown) -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}
