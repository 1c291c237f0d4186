-- The first public comment an agent other than the requester wrote on each ticket: the ticket's first response.
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
        comments.ticket_key,
        comments.created_at
    from comments
    inner join users
        on comments.author_user_key = users.user_key
    inner join tickets
        on comments.ticket_key = tickets.ticket_key
    where
        users.user_role = 'agent'
        and comments.is_public
        and comments.created_at >= tickets.created_at
        and comments.author_user_key != coalesce(tickets.requester_user_key, '')
),

first_responses as (
    select
        ticket_key,
        min(created_at) as first_response_at
    from agent_replies
    group by ticket_key
)

select * from first_responses
