-- Rows each load brought per bronze table and period (publications) or system's resource (service desk). The figures
-- table appears with the first service-desk load; until then the service desk contributes no rows.
with manifest as (
    select * from {{ source('publications', 'publication_manifest') }}
),

figures as (
    select *
    from {{ relation_or_empty(source('ops', 'servicedesk_load_figures'),
        "select cast(null as varchar) as run_id, cast(null as varchar) as source_system,
        cast(null as varchar) as bronze_table,
        cast(null as varchar) as resource, cast(null as bigint) as inserted,
        cast(null as bigint) as updated, cast(null as timestamp with time zone) as ended_at,
        cast(null as varchar) as status where false") }}
),

publication_loads as (
    select
        run_id,
        'publications' as source_family,
        publication as source_name,
        bronze_table as table_name,
        period,
        sum(row_count) as row_count,
        max(recorded_at) as loaded_at
    from manifest
    where
        classification = 'table'
        and status = 'loaded'
    group by
        run_id,
        publication,
        bronze_table,
        period
),

servicedesk_loads as (
    select
        run_id,
        'servicedesk' as source_family,
        coalesce(source_system, 'servicedesk') as source_name,
        coalesce(bronze_table, resource) as table_name,
        cast(null as varchar) as period,
        inserted + updated as row_count,
        ended_at as loaded_at
    from figures
    where status = 'success'
),

unioned as (
    select * from publication_loads
    union all
    select * from servicedesk_loads
)

select * from unioned
