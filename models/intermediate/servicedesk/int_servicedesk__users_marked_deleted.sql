-- Users with whether their system still lists them (a declared deletion check), as for tickets.
with users as (
    select * from {{ ref('stg_servicedesk__users') }}
),

deletions as (
    select * from {{ ref('stg_servicedesk__deletions') }}
    where entity = 'users'
),

marked as (
    select
        users.user_key,
        users.source_system,
        users.user_id,
        users.email,
        users.user_name,
        users.user_role,
        users.team_name,
        users.is_active,
        users.created_at,
        users.updated_at,
        users.load_id,
        {{ deletion_flags('users', 'deletions') }}
    from users
    left join deletions
        on users.user_key = deletions.record_key
)

select * from marked
