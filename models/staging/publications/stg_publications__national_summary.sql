-- Table 1 of the workbook: the national headline measures per period.
{{ config(
    materialized='incremental',
    incremental_strategy=period_strategy(),
    partition_by=period_partition('period'),
    indexes=period_indexes(),
    pre_hook="{{ delete_periods_to_rebuild('practice_submissions') }}",
    on_schema_change='append_new_columns',
) }}
with source as (
    select * from {{ source('publications', 'national_summary') }}
    {%- if is_incremental() %}
        where _period in ({{ periods_to_rebuild('practice_submissions') }})
    {%- endif %}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _period, trim(measure)
            order by _dlt_load_id desc, _part asc, _source_row asc
        ) as duplicate_rank
    from source
),

renamed as (
    select
        -- ids
        trim(measure) as measure_name,
        -- period
        _period as period,
        {{ period_month('_period') }} as period_month,
        -- measures
        {{ suppressed_number('value', 'numeric(18, 2)') }} as measure_value,
        {{ is_suppressed('value') }} as is_measure_value_suppressed,
        {{ is_error_cell('value') }} as is_measure_value_error,
        trim(unit) as measure_unit,
        -- lineage: the file, sheet or member and its sha256 are on the manifest row of (load_id, source_part_id)
        _dlt_load_id as load_id,
        _part as source_part_id,
        _source_row as source_row
    from ranked
    where duplicate_rank = 1
)

select * from renamed
