-- Records a system no longer lists, from the declared deletion checks. The table appears with the first check; until
-- then no record is deleted.
with source as (
    select *
    from {{ relation_or_empty(source('servicedesk', 'deletions'),
        "select cast(null as " ~ text_type() ~ ") as source_system, cast(null as " ~ text_type() ~ ") as entity,
        cast(null as " ~ text_type() ~ ") as record_key, cast(null as boolean) as is_deleted,
        cast(null as " ~ timestamptz_type() ~ ") as checked_at where false") }}
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
        cast(checked_at as {{ timestamptz_type() }}) as checked_at
    from source
)

select * from renamed
