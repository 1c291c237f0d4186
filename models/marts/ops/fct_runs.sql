with all_events as (
    select * from {{ ref('stg_ops__run_events') }}
),

started_runs as (
    select distinct run_id
    from all_events
    where event_type = 'run_started'
),

events as (
    select all_events.*
    from all_events
    inner join started_runs
        on all_events.run_id = started_runs.run_id
),

runs as (
    select
        run_id,
        min(occurred_at) as started_at,
        max(case when event_type in ('run_completed', 'run_failed') then occurred_at end) as ended_at,
        max(case when event_type in ('run_completed', 'run_failed') then status end) as end_status,
        sum(case when event_type = 'load_completed' and status = 'success' then row_count else 0 end)
            as rows_loaded,
        sum(case when event_type = 'stage_failed' then 1 else 0 end) as failed_stage_count,
        sum(coalesce(retry_count, 0)) as retry_count
    from events
    group by run_id
),

final as (
    select
        cast(run_id as varchar(64)) as run_id,
        started_at,
        ended_at,
        cast(case
            when end_status = 'success' then 'SUCCESS'
            when end_status = 'no_work' then 'NO_WORK'
            when end_status is null then 'INCOMPLETE'
            else 'FAILED'
        end as varchar(16)) as run_status,
        cast(rows_loaded as bigint) as rows_loaded,
        cast(failed_stage_count as integer) as failed_stage_count,
        cast(retry_count as integer) as retry_count
    from runs
)

select * from final
