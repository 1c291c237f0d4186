-- What each service-desk load wrote per system and resource. The figures table appears with the first service-desk
-- load; until then there are no rows.
with source as (
    select *
    from {{ relation_or_empty(source('ops', 'servicedesk_load_figures'),
        "select cast(null as " ~ text_type() ~ ") as run_id, cast(null as " ~ text_type() ~ ") as source_system,
        cast(null as " ~ text_type() ~ ") as bronze_table,
        cast(null as " ~ text_type() ~ ") as resource, cast(null as bigint) as inserted,
        cast(null as bigint) as updated, cast(null as " ~ timestamptz_type() ~ ") as ended_at,
        cast(null as " ~ text_type() ~ ") as status where false") }}
),

renamed as (
    select
        -- ids
        run_id,
        -- figures written before several service desks could be declared have no system
        coalesce(source_system, 'servicedesk') as source_system,
        resource as resource_name,
        -- the canonical bronze table the resource loads (figures from before canonical tables: the resource)
        coalesce(bronze_table, resource) as table_name,
        -- attributes
        status,
        -- measures
        cast(inserted as bigint) as inserted_count,
        cast(updated as bigint) as updated_count,
        -- timestamps
        ended_at
    from source
)

select * from renamed
