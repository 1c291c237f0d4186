with entries as (
    select * from {{ ref('stg_servicedesk__timesheets') }}
),

daily as (
    select
        source_system,
        user_key,
        ticket_key,
        work_date,
        count(*) as entry_count,
        sum(worked_minutes) as worked_minutes
    from entries
    group by
        source_system,
        user_key,
        ticket_key,
        work_date
),

final as (
    select
        {%- set key_parts = ["user_key", "'|'", "ticket_key", "'|'", "cast(work_date as " ~ text_type() ~ ")"] %}
        cast({{ dbt.hash(dbt.concat(key_parts)) }} as varchar(64)) as user_ticket_day_id,
        cast(source_system as varchar(32)) as source_system,
        cast(user_key as varchar(64)) as user_key,
        cast(ticket_key as varchar(64)) as ticket_key,
        work_date,
        cast(entry_count as integer) as entry_count,
        cast(worked_minutes as integer) as worked_minutes,
        cast(worked_minutes / 60.0 as numeric(8, 2)) as hours_worked
    from daily
)

select * from final
