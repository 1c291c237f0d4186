with users as (
    select * from {{ ref('stg_servicedesk__users') }}
),

final as (
    select
        cast(user_id as bigint) as user_id,
        cast(email as varchar(200)) as email,
        cast(user_name as varchar(200)) as user_name,
        cast(user_role as varchar(16)) as user_role,
        cast(team_name as varchar(100)) as team_name,
        is_active,
        created_at,
        updated_at
    from users
)

select * from final
