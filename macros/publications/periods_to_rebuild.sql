{#-
    The periods of `publication` an incremental model rebuilds, as the list inside `... in (...)`: each period whose
    load the model does not hold (published for the first time, or again) and each period the model holds that the
    publication no longer lists (removed). Read from the small publication_periods table, compared period by period
    with the load ids the model holds (`this` has `load_id`). `key`: the model's period column; `as_month`: the model
    keys months by their first day (period_month) rather than by the period's text.

    The list is worked out when the model is compiled and written into its SQL as literals (the pre_hook's delete
    and the model's select get the same list): a condition on constants reaches through views and grouping to the
    rows of those periods (an index on PostgreSQL, zone maps on DuckDB), where a subquery would make the database
    aggregate a view over every period before joining. An empty list matches nothing.
-#}
{% macro periods_to_rebuild(publication, key='period', as_month=false) -%}
    {%- set query = periods_to_rebuild_query(publication, key, as_month) -%}
    {%- if not execute -%}
        {{- query -}}
    {%- else -%}
        {%- set literals = [] -%}
        {%- for value in run_query(query).columns[0].values() -%}
            {%- set text = value | string | replace("'", "''") -%}
            {%- do literals.append("cast('" ~ text ~ "' as date)" if as_month else "'" ~ text ~ "'") -%}
        {%- endfor -%}
        {%- set no_period = 'cast(null as date)' if as_month else 'cast(null as ' ~ text_type() ~ ')' -%}
        {{- literals | join(', ') if literals else no_period -}}
    {%- endif -%}
{%- endmacro %}

{#- The query periods_to_rebuild runs: one column, the period keys to rebuild. -#}
{% macro periods_to_rebuild_query(publication, key='period', as_month=false) -%}
    {%- set listed -%}
        (
            select
                {{ 'cast(period_start as date)' if as_month else 'period' }} as period_key,
                load_id as period_load_id
            from {{ source('publications', 'publication_periods') }}
            where publication = '{{ publication }}'
        )
    {%- endset -%}
    select listed.period_key from {{ listed }} as listed
    where not exists (
        select 1 from {{ this }} as built
        where built.{{ key }} = listed.period_key and built.load_id = listed.period_load_id
    )
    union all
    select held.period_key from ({{ held_periods(this, key) }}) as held
    where not exists (select 1 from {{ listed }} as listed where listed.period_key = held.period_key)
{%- endmacro %}

{#-
    The distinct values of `key` in `relation`, as a subquery with one column `period_key`. DuckDB scans the column
    (a columnar scan of one column is cheap); PostgreSQL walks the model's index on `key` from one value to the
    next (a loose index scan: one probe per period), so the cost does not grow with the rows already built.
-#}
{% macro held_periods(relation, key) -%}
    {{ return(adapter.dispatch('held_periods', 'declarative_analytics')(relation, key)) }}
{%- endmacro %}

{% macro default__held_periods(relation, key) -%}
    select distinct {{ key }} as period_key from {{ relation }}
{%- endmacro %}

{% macro postgres__held_periods(relation, key) -%}
    with recursive held (period_key) as (
        (select {{ key }} from {{ relation }} where {{ key }} is not null order by {{ key }} limit 1)
        union all
        select (
            select next_held.{{ key }} from {{ relation }} as next_held
            where next_held.{{ key }} > held.period_key order by next_held.{{ key }} limit 1
        )
        from held where held.period_key is not null
    )
    select period_key from held where period_key is not null
{%- endmacro %}

{#-
    The indexes an incremental model of a publication keeps, as its `indexes` config: on PostgreSQL one on the
    period key and load id (what periods_to_rebuild probes and the pre-hook deletes by), plus any `extra` column
    lists; none on DuckDB, whose scans need none and whose indexes slow the bulk insert.
-#}
{% macro period_indexes(key='period', extra=[]) -%}
    {%- if target.type == 'postgres' -%}
        {%- set indexes = [{'columns': [key, 'load_id']}] -%}
        {%- for columns in extra -%}
            {%- do indexes.append({'columns': columns}) -%}
        {%- endfor -%}
        {{ return(indexes) }}
    {%- endif -%}
    {{ return([]) }}
{%- endmacro %}

{#-
    How an incremental model of a publication writes the periods it rebuilds. DuckDB and PostgreSQL: the pre-hook
    deletes them, the build appends them (same transaction). Spark over Parquet (no delete): the model is partitioned
    by its period, the pre-hook drops the partitions of the periods it rebuilds (those bronze no longer lists
    included) and the build overwrites the partitions it writes (`insert_overwrite`, dynamic partition overwrite).
-#}
{% macro period_strategy() -%}
    {{ return('insert_overwrite' if target.type == 'spark' else 'append') }}
{%- endmacro %}

{% macro period_partition(key='period') -%}
    {{ return([key] if target.type == 'spark' else none) }}
{%- endmacro %}

{% macro delete_periods_to_rebuild(publication, key='period', as_month=false) -%}
    {%- if is_incremental() -%}
        {{ adapter.dispatch('delete_periods_to_rebuild', 'declarative_analytics')(publication, key, as_month) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__delete_periods_to_rebuild(publication, key, as_month) -%}
    delete from {{ this }} where {{ key }} in ({{ periods_to_rebuild(publication, key, as_month) }})
{%- endmacro %}

{% macro spark__delete_periods_to_rebuild(publication, key, as_month) -%}
    {%- set partitions = [] -%}
    {%- if execute -%}
        {%- for value in run_query(periods_to_rebuild_query(publication, key, as_month)).columns[0].values() -%}
            {%- do partitions.append("partition (" ~ key ~ " = '" ~ (value | string | replace("'", "''")) ~ "')") -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if partitions -%}
        alter table {{ this }} drop if exists {{ partitions | join(', ') }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
