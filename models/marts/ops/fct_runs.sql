with all_events as (
    select * from {{ ref('stg_ops__run_events') }}
),

run_statuses as (
    select * from {{ ref('run_statuses') }}
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
        sum(case when event_type = 'load_completed' and status = 'success' then row_count else 0 end)
            as rows_loaded,
        sum(case when event_type = 'stage_failed' then 1 else 0 end) as failed_stage_count,
        sum(coalesce(retry_count, 0)) as retry_count
    from events
    group by run_id
),

-- The run's last run-level event: its latest end (run_completed, run_failed), else its run_started (running).
ranked_run_events as (
    select
        run_id,
        status as outcome,
        row_number() over (
            partition by run_id
            order by
                case when event_type = 'run_started' then 1 else 0 end,
                occurred_at desc,
                event_id desc
        ) as event_rank
    from events
    where event_type in ('run_started', 'run_completed', 'run_failed')
),

outcomes as (
    select
        run_id,
        outcome
    from ranked_run_events
    where event_rank = 1
),

final as (
    select
        cast(runs.run_id as varchar(64)) as run_id,
        runs.started_at,
        runs.ended_at,
        -- an outcome the seed does not know is a failure
        cast(coalesce(run_statuses.run_status, 'FAILED') as varchar(16)) as run_status,
        cast(runs.rows_loaded as bigint) as rows_loaded,
        cast(runs.failed_stage_count as integer) as failed_stage_count,
        cast(runs.retry_count as integer) as retry_count
    from runs
    left join outcomes
        on runs.run_id = outcomes.run_id
    left join run_statuses
        on outcomes.outcome = run_statuses.outcome
)

select * from final
