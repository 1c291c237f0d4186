with source as (
    select * from {{ source('ops', 'run_events') }}
),

renamed as (
    select
        -- ids
        event_id,
        run_id,
        correlation_id,
        parent_event_id,
        -- attributes
        stage,
        event_type,
        status,
        source as source_name,
        subject,
        error_class,
        message,
        -- measures
        cast(duration_seconds as numeric(14, 3)) as duration_seconds,
        cast(row_count as bigint) as row_count,
        cast(retry_count as integer) as retry_count,
        -- timestamps
        occurred_at
    from source
)

select * from renamed
