-- Rows each load brought per bronze table: a publication's period (its manifest's table parts summed) and a
-- service-desk system's resource, one shape for both.
with manifest as (
    select * from {{ ref('stg_publications__manifest') }}
),

figures as (
    select * from {{ ref('stg_ops__servicedesk_load_figures') }}
),

publication_loads as (
    select
        run_id,
        'publications' as source_family,
        publication_name as source_name,
        table_name,
        period,
        cast(null as {{ text_type() }}) as resource_name,
        sum(row_count) as row_count,
        max(recorded_at) as loaded_at
    from manifest
    where
        classification = 'table'
        and status = 'loaded'
    group by
        run_id,
        publication_name,
        table_name,
        period
),

servicedesk_loads as (
    select
        run_id,
        'servicedesk' as source_family,
        source_system as source_name,
        table_name,
        cast(null as {{ text_type() }}) as period,
        resource_name,
        inserted_count + updated_count as row_count,
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
