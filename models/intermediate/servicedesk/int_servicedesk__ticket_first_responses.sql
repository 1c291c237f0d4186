-- The first public comment an agent wrote on each ticket: the ticket's first response.
with comments as (
    select * from {{ ref('stg_servicedesk__comments') }}
),

users as (
    select * from {{ ref('stg_servicedesk__users') }}
),

tickets as (
    select * from {{ ref('stg_servicedesk__tickets') }}
),

agent_replies as (
    select
        comments.ticket_id,
        comments.created_at
    from comments
    inner join users
        on comments.author_user_id = users.user_id
    inner join tickets
        on comments.ticket_id = tickets.ticket_id
    where
        users.user_role = 'agent'
        and comments.is_public
        and comments.created_at >= tickets.created_at
),

first_responses as (
    select
        ticket_id,
        min(created_at) as first_response_at
    from agent_replies
    group by ticket_id
)

select * from first_responses
