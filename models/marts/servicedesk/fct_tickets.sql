with tickets as (
    select * from {{ ref('int_servicedesk__tickets_marked_deleted') }}
),

first_responses as (
    select * from {{ ref('int_servicedesk__ticket_first_responses') }}
),

sla_targets as (
    select * from {{ ref('sla_targets') }}
),

measured as (
    select
        tickets.ticket_key,
        tickets.source_system,
        tickets.ticket_id,
        tickets.requester_user_key,
        tickets.assignee_user_key,
        tickets.priority,
        tickets.status,
        tickets.created_at,
        first_responses.first_response_at,
        tickets.resolved_at,
        tickets.is_deleted,
        tickets.deleted_at,
        {{ dbt.datediff('tickets.created_at', 'first_responses.first_response_at', 'minute') }}
            as minutes_to_first_response,
        {{ dbt.datediff('tickets.created_at', 'tickets.resolved_at', 'minute') }} as minutes_to_resolution,  -- noqa: LT05
        sla_targets.first_response_minutes as first_response_target_minutes,
        sla_targets.resolution_minutes as resolution_target_minutes
    from tickets
    left join first_responses
        on tickets.ticket_key = first_responses.ticket_key
    left join sla_targets
        on tickets.priority = sla_targets.priority
),

final as (
    select
        cast(ticket_key as varchar(64)) as ticket_key,
        cast(source_system as varchar(32)) as source_system,
        cast(ticket_id as bigint) as ticket_id,
        cast(requester_user_key as varchar(64)) as requester_user_key,
        cast(assignee_user_key as varchar(64)) as assignee_user_key,
        cast(priority as varchar(16)) as priority,
        cast(status as varchar(16)) as status,
        created_at,
        first_response_at,
        resolved_at,
        cast(minutes_to_first_response as bigint) as minutes_to_first_response,
        cast(minutes_to_resolution as bigint) as minutes_to_resolution,
        cast(first_response_target_minutes as integer) as first_response_target_minutes,
        cast(resolution_target_minutes as integer) as resolution_target_minutes,
        -- null while the clock is still running: no response (or resolution) yet
        case
            when minutes_to_first_response is not null
                then minutes_to_first_response <= first_response_target_minutes
        end as is_first_response_sla_met,
        case
            when minutes_to_resolution is not null
                then minutes_to_resolution <= resolution_target_minutes
        end as is_resolution_sla_met,
        resolved_at is not null as is_resolved,
        is_deleted,
        deleted_at
    from measured
)

select * from final
