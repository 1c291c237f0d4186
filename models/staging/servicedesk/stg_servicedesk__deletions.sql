-- Records a system no longer lists, from the declared deletion checks. The table appears with the first check; until
-- then no record is deleted.
with source as (
    select *
    from {{ relation_or_empty(source('servicedesk', 'deletions'),
        "select cast(null as varchar) as source_system, cast(null as varchar) as entity,
        cast(null as varchar) as record_key, cast(null as boolean) as is_deleted,
        cast(null as timestamp with time zone) as checked_at where false") }}
),

renamed as (
    select
        -- ids
        source_system || ':' || record_key as record_key,
        source_system,
        entity,
        -- attributes
        cast(is_deleted as boolean) as is_deleted,
        -- timestamps
        cast(checked_at as timestamp with time zone) as checked_at
    from source
)

select * from renamed
