with source as (
    select * from {{ source('servicedesk', 'comments') }}
),

renamed as (
    select
        -- ids
        cast(id as bigint) as comment_id,
        cast(ticket_id as bigint) as ticket_id,
        cast(author_id as bigint) as author_user_id,
        -- attributes
        body as comment_body,
        cast(is_public as boolean) as is_public,
        -- timestamps
        cast(created_at as timestamp with time zone) as created_at,
        cast(updated_at as timestamp with time zone) as updated_at,
        -- lineage
        _dlt_load_id as load_id
    from source
)

select * from renamed
