-- One row per timesheet entry: by the system's id where it has one, else by the natural key (user, date, start
-- time, ticket), exact duplicates the API emits having been collapsed by the merge into bronze.
with source as (
    select * from {{ source('servicedesk', 'timesheets') }}
),

renamed as (
    select
        -- ids
        {{ dbt.hash(dbt.concat([
            "source_system", "'|'", "coalesce(cast(id as " ~ text_type() ~ "), '')", "'|'",
            "cast(user_id as " ~ text_type() ~ ")", "'|'", "cast(work_date as " ~ text_type() ~ ")", "'|'",
            "coalesce(time_from, '')", "'|'", "cast(ticket_id as " ~ text_type() ~ ")"
        ])) }} as timesheet_entry_id,
        source_system,
        {{ servicedesk_key('source_system', 'user_id') }} as user_key,
        {{ servicedesk_key('source_system', 'ticket_id') }} as ticket_key,
        -- dates and times
        cast(work_date as date) as work_date,
        trim(time_from) as time_from,
        trim(time_to) as time_to,
        -- measures
        cast(minutes as integer) as worked_minutes,
        -- attributes
        note as entry_note,
        -- timestamps
        cast(updated_at as {{ timestamptz_type() }}) as updated_at,
        -- lineage
        _dlt_load_id as load_id
    from source
)

select * from renamed
