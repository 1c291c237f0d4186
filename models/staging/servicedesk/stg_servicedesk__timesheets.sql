-- One row per timesheet entry. The API has no id: the natural key (user, date, start time, ticket) identifies an
-- entry, and exact duplicates the API emits were collapsed by the merge into bronze.
with source as (
    select * from {{ source('servicedesk', 'timesheets') }}
),

renamed as (
    select
        -- ids
        {{ dbt.hash(dbt.concat([
            "cast(user_id as varchar)", "'|'", "cast(work_date as varchar)", "'|'",
            "time_from", "'|'", "cast(ticket_id as varchar)"
        ])) }} as timesheet_entry_id,
        cast(user_id as bigint) as user_id,
        cast(ticket_id as bigint) as ticket_id,
        -- dates and times
        cast(work_date as date) as work_date,
        trim(time_from) as time_from,
        trim(time_to) as time_to,
        -- measures
        cast(minutes as integer) as worked_minutes,
        -- attributes
        note as entry_note,
        -- timestamps
        cast(updated_at as timestamp with time zone) as updated_at,
        -- lineage
        _dlt_load_id as load_id
    from source
)

select * from renamed
