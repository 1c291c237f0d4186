with users as (
    select * from {{ ref('int_servicedesk__users_marked_deleted') }}
),

final as (
    select
        cast(user_key as varchar(64)) as user_key,
        cast(source_system as varchar(32)) as source_system,
        cast(user_id as bigint) as user_id,
        cast(email as varchar(200)) as email,
        cast(user_name as varchar(200)) as user_name,
        cast(user_role as varchar(16)) as user_role,
        cast(team_name as varchar(100)) as team_name,
        is_active,
        is_deleted,
        created_at,
        updated_at
    from users
)

select * from final
