-- The practice detail CSV: one row per practice, day and channel. Bronze already holds typed columns.
{{ config(
    materialized='incremental',
    incremental_strategy=period_strategy(),
    partition_by=period_partition('period'),
    indexes=period_indexes(extra=[['period_month']]),
    pre_hook="{{ delete_periods_to_rebuild('practice_submissions') }}",
    on_schema_change='append_new_columns',
) }}
{%- set bronze = source('publications', 'practice_detail') %}

with source as (
    select * from {{ bronze }}
    {%- if is_incremental() %}
        where _period in ({{ periods_to_rebuild('practice_submissions') }})
    {%- endif %}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _period, practice_code, submission_date, channel
            order by _dlt_load_id desc, _part asc, _source_row asc
        ) as duplicate_rank
    from source
),

renamed as (
    select
        -- ids
        trim(practice_code) as practice_code,
        trim(channel) as channel,
        -- dates
        submission_date,
        _period as period,
        {{ period_month('_period') }} as period_month,
        -- measures
        cast(submission_count as bigint) as submission_count,
        cast(mean_processing_days as numeric(10, 2)) as mean_processing_days,
        cast({{ optional_column(bronze, 'urgent_count', 'bigint') }} as bigint) as urgent_submission_count,
        cast({{ optional_column(bronze, 'routine_count', 'bigint') }} as bigint) as routine_submission_count,
        cast(
            {{ optional_column(bronze, 'median_wait_days', 'double precision') }} as numeric(8, 1)
        ) as median_wait_days,
        -- attributes
        trim({{ optional_column(bronze, 'staff_role') }}) as staff_role,
        cast({{ optional_column(bronze, 'is_extended_hours', 'boolean') }} as boolean) as is_extended_hours,
        -- lineage: the file, sheet or member and its sha256 are on the manifest row of (load_id, source_part_id)
        _dlt_load_id as load_id,
        _part as source_part_id,
        _source_row as source_row
    from ranked
    where duplicate_rank = 1
)

select * from renamed
