-- Incremental by month: a build replaces the months published (for the first time or again) since the last
-- build and drops the months bronze no longer lists (macros/publications/periods_to_rebuild.sql).
{{ config(
    materialized='incremental',
    incremental_strategy=period_strategy(),
    partition_by=period_partition('period_month'),
    indexes=period_indexes('period_month'),
    pre_hook="{{ delete_periods_to_rebuild('practice_submissions', 'period_month', as_month=true) }}",
    on_schema_change='append_new_columns',
) }}
{%- set summary = ref('stg_publications__practice_summary') %}

with practices as (
    select * from {{ summary }}
    {%- if is_incremental() %}
        where period_month in ({{ periods_to_rebuild('practice_submissions', 'period_month', as_month=true) }})
    {%- endif %}
),

detail as (
    select * from {{ ref('int_publications__practice_detail_monthly') }}
    {%- if is_incremental() %}
        where period_month in ({{ periods_to_rebuild('practice_submissions', 'period_month', as_month=true) }})
    {%- endif %}
),

joined as (
    select
        -- keys
        cast({{ dbt.concat(["practices.practice_code", "'-'", "practices.period"]) }} as varchar(32))
            as practice_month_id,
        cast(practices.practice_code as varchar(16)) as practice_code,
        practices.period_month,
        cast(practices.region_code as varchar(16)) as region_code,
        cast(practices.sub_region_code as varchar(16)) as sub_region_code,
        -- published measures
        cast(practices.registered_patient_count as bigint) as registered_patient_count,
        cast(practices.submission_count as bigint) as submission_count,
        cast(practices.submission_rate_per_1000 as numeric(12, 2)) as submission_rate_per_1000,
        practices.is_registered_patient_count_suppressed,
        practices.is_submission_count_suppressed,
        practices.is_submission_rate_suppressed,
        practices.is_registered_patient_count_error,
        practices.is_submission_count_error,
        practices.is_submission_rate_error,
        -- measures published from 2025-06 (null before)
        cast(practices.online_submission_count as bigint) as online_submission_count,
        cast(practices.urgent_submission_count as bigint) as urgent_submission_count,
        cast(practices.median_wait_days as numeric(8, 1)) as median_wait_days,
        practices.is_dispensing_practice,
        -- from the detail file
        cast(coalesce(detail.detail_submission_count, 0) as bigint) as detail_submission_count,
        cast(coalesce(detail.detail_online_submission_count, 0) as bigint) as detail_online_submission_count,
        cast(coalesce(detail.detail_paper_submission_count, 0) as bigint) as detail_paper_submission_count,
        cast(coalesce(detail.detail_phone_submission_count, 0) as bigint) as detail_phone_submission_count,
        -- lineage: the release period and load, and the bronze row of the practice table
        -- (`ingestion trace` follows them to the release file's cells)
        cast(practices.load_id as varchar(32)) as load_id,
        cast(practices.period as varchar(16)) as release_period,
        cast(practices.source_part_id as bigint) as source_part_id,
        cast(practices.source_row as bigint) as source_row
    from practices
    left join detail
        on
            practices.practice_code = detail.practice_code
            and practices.period = detail.period
)

select * from joined
