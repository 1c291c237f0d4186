-- Table 2 of the workbook: one row per practice and period. Cells land as text in bronze; measures are cast here,
-- suppression markers become null plus an is_*_suppressed flag, spreadsheet error cells (#DIV/0!, #N/A ...) null
-- plus an is_*_error flag.
{{ config(
    materialized='incremental',
    incremental_strategy=period_strategy(),
    partition_by=period_partition('period'),
    indexes=period_indexes(),
    pre_hook="{{ delete_periods_to_rebuild('practice_submissions') }}",
    on_schema_change='append_new_columns',
) }}
{%- set bronze = source('publications', 'practice_summary') %}

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
            partition by _period, trim(practice_code)
            order by _dlt_load_id desc, _part asc, _source_row asc
        ) as duplicate_rank
    from source
),

renamed as (
    select
        -- ids
        trim(practice_code) as practice_code,
        trim(region_code) as region_code,
        trim(sub_region_code) as sub_region_code,
        -- attributes
        trim(practice_name) as practice_name,
        trim(region_name) as region_name,
        trim(sub_region_name) as sub_region_name,
        trim({{ optional_column(bronze, 'pcn_code') }}) as pcn_code,
        case upper(trim({{ optional_column(bronze, 'dispensing_practice') }}))
            when 'Y' then true
            when 'N' then false
        end as is_dispensing_practice,
        -- period
        _period as period,
        {{ period_month('_period') }} as period_month,
        -- measures
        {{ suppressed_number('registered_patients', 'bigint') }} as registered_patient_count,
        {{ suppressed_number('submissions', 'bigint') }} as submission_count,
        {{ suppressed_number('rate_per_1_000_patients', 'numeric(12, 2)') }} as submission_rate_per_1000,
        {{ suppressed_number(optional_column(bronze, 'online_submissions'), 'bigint') }} as online_submission_count,
        {{ suppressed_number(optional_column(bronze, 'urgent_submissions'), 'bigint') }} as urgent_submission_count,
        {{ suppressed_number(optional_column(bronze, 'median_wait_days'), 'numeric(8, 1)') }} as median_wait_days,
        -- suppression flags
        {{ is_suppressed('registered_patients') }} as is_registered_patient_count_suppressed,
        {{ is_suppressed('submissions') }} as is_submission_count_suppressed,
        {{ is_suppressed('rate_per_1_000_patients') }} as is_submission_rate_suppressed,
        {{ is_suppressed(optional_column(bronze, 'online_submissions')) }} as is_online_submission_count_suppressed,
        -- spreadsheet error flags
        {{ is_error_cell('registered_patients') }} as is_registered_patient_count_error,
        {{ is_error_cell('submissions') }} as is_submission_count_error,
        {{ is_error_cell('rate_per_1_000_patients') }} as is_submission_rate_error,
        {{ is_error_cell(optional_column(bronze, 'online_submissions')) }} as is_online_submission_count_error,
        -- lineage: the file, sheet or member and its sha256 are on the manifest row of (load_id, source_part_id)
        _dlt_load_id as load_id,
        _part as source_part_id,
        _source_row as source_row
    from ranked
    where duplicate_rank = 1
)

select * from renamed
