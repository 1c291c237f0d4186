with source as (
    select * from {{ source('servicedesk', 'comments') }}
),

renamed as (
    select
        -- ids
        {{ servicedesk_key('source_system', 'id') }} as comment_key,
        source_system,
        cast(id as bigint) as comment_id,
        {{ servicedesk_key('source_system', 'ticket_id') }} as ticket_key,
        {{ servicedesk_key('source_system', 'author_id') }} as author_user_key,
        -- attributes
        body as comment_body,
        coalesce(cast(is_public as boolean), true) as is_public,
        -- timestamps
        cast(created_at as {{ timestamptz_type() }}) as created_at,
        cast(updated_at as {{ timestamptz_type() }}) as updated_at,
        -- lineage
        _dlt_load_id as load_id
    from source
)

select * from renamed
