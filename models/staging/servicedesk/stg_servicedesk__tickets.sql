with source as (
    select * from {{ source('servicedesk', 'tickets') }}
),

renamed as (
    select
        -- ids
        {{ servicedesk_key('source_system', 'id') }} as ticket_key,
        source_system,
        cast(id as bigint) as ticket_id,
        {{ servicedesk_key('source_system', 'requester_id') }} as requester_user_key,
        {{ servicedesk_key('source_system', 'assignee_id') }} as assignee_user_key,
        -- attributes
        trim(subject) as subject,
        lower(trim(status)) as status,
        lower(trim(priority)) as priority,
        -- timestamps
        cast(created_at as {{ timestamptz_type() }}) as created_at,
        cast(updated_at as {{ timestamptz_type() }}) as updated_at,
        cast(resolved_at as {{ timestamptz_type() }}) as resolved_at,
        -- lineage
        _dlt_load_id as load_id
    from source
)

select * from renamed
