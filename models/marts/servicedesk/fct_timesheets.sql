with entries as (
    select * from {{ ref('stg_servicedesk__timesheets') }}
),

daily as (
    select
        user_id,
        ticket_id,
        work_date,
        count(*) as entry_count,
        sum(worked_minutes) as worked_minutes
    from entries
    group by
        user_id,
        ticket_id,
        work_date
),

final as (
    select
        {%- set key_parts = ["cast(user_id as varchar)", "'|'", "cast(ticket_id as varchar)", "'|'",
                             "cast(work_date as varchar)"] %}
        cast({{ dbt.hash(dbt.concat(key_parts)) }} as varchar(64)) as user_ticket_day_id,
        cast(user_id as bigint) as user_id,
        cast(ticket_id as bigint) as ticket_id,
        work_date,
        cast(entry_count as integer) as entry_count,
        cast(worked_minutes as integer) as worked_minutes,
        cast(worked_minutes / 60.0 as numeric(8, 2)) as hours_worked
    from daily
)

select * from final
