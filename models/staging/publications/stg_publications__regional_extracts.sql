-- The regional CSV extracts shipped in the ZIP: one row per sub-region and period.
{{ config(
    materialized='incremental',
    incremental_strategy=period_strategy(),
    partition_by=period_partition('period'),
    indexes=period_indexes(),
    pre_hook="{{ delete_periods_to_rebuild('practice_submissions') }}",
    on_schema_change='append_new_columns',
) }}
with source as (
    select * from {{ source('publications', 'regional_extracts') }}
    {%- if is_incremental() %}
        where _period in ({{ periods_to_rebuild('practice_submissions') }})
    {%- endif %}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _period, sub_region_code
            order by _dlt_load_id desc, _part asc, _source_row asc
        ) as duplicate_rank
    from source
),

renamed as (
    select
        -- ids
        trim(sub_region_code) as sub_region_code,
        trim(region_code) as region_code,
        -- attributes
        trim(sub_region_name) as sub_region_name,
        -- period
        _period as period,
        {{ period_month('_period') }} as period_month,
        -- measures
        cast(practice_count as bigint) as practice_count,
        cast(registered_patients as bigint) as registered_patient_count,
        cast(submission_count as bigint) as submission_count,
        -- lineage: the file, sheet or member and its sha256 are on the manifest row of (load_id, source_part_id)
        _dlt_load_id as load_id,
        _part as source_part_id,
        _source_row as source_row
    from ranked
    where duplicate_rank = 1
)

select * from renamed
