-- Tickets with whether their system still lists them (a declared deletion check): a ticket deleted at the source
-- stays, marked, with when that was found; changed_at moves with the deletion, so the snapshot records it.
with tickets as (
    select * from {{ ref('stg_servicedesk__tickets') }}
),

deletions as (
    select * from {{ ref('stg_servicedesk__deletions') }}
    where entity = 'tickets'
),

marked as (
    select
        tickets.ticket_key,
        tickets.source_system,
        tickets.ticket_id,
        tickets.requester_user_key,
        tickets.assignee_user_key,
        tickets.subject,
        tickets.status,
        tickets.priority,
        tickets.created_at,
        tickets.updated_at,
        tickets.resolved_at,
        tickets.load_id,
        {{ deletion_flags('tickets', 'deletions') }}
    from tickets
    left join deletions
        on tickets.ticket_key = deletions.record_key
)

select * from marked
