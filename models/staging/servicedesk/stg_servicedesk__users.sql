with source as (
    select * from {{ source('servicedesk', 'users') }}
),

renamed as (
    select
        -- ids
        {{ servicedesk_key('source_system', 'id') }} as user_key,
        source_system,
        cast(id as bigint) as user_id,
        -- attributes
        lower(trim(email)) as email,
        trim(name) as user_name,
        lower(trim(role)) as user_role,
        trim(team) as team_name,
        cast(is_active as boolean) as is_active,
        -- timestamps
        cast(created_at as {{ timestamptz_type() }}) as created_at,
        cast(updated_at as {{ timestamptz_type() }}) as updated_at,
        -- lineage
        _dlt_load_id as load_id
    from source
)

select * from renamed
