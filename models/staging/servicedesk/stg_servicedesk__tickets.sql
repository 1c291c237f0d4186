with source as (
    select * from {{ source('servicedesk', 'tickets') }}
),

renamed as (
    select
        -- ids
        cast(id as bigint) as ticket_id,
        cast(requester_id as bigint) as requester_user_id,
        cast(assignee_id as bigint) as assignee_user_id,
        -- attributes
        trim(subject) as subject,
        lower(trim(status)) as status,
        lower(trim(priority)) as priority,
        -- timestamps
        cast(created_at as timestamp with time zone) as created_at,
        cast(updated_at as timestamp with time zone) as updated_at,
        cast(resolved_at as timestamp with time zone) as resolved_at,
        -- lineage
        _dlt_load_id as load_id
    from source
)

select * from renamed
