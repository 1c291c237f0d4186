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
{%- set practice_months = ref('fct_practice_submissions_monthly') %}

with practice_months as (
    select * from {{ practice_months }}
    {%- if is_incremental() %}
        where period_month in ({{ periods_to_rebuild('practice_submissions', 'period_month', as_month=true) }})
    {%- endif %}
),

extracts as (
    select * from {{ ref('stg_publications__regional_extracts') }}
    {%- if is_incremental() %}
        where period_month in ({{ periods_to_rebuild('practice_submissions', 'period_month', as_month=true) }})
    {%- endif %}
),

regions as (
    select * from {{ ref('regions') }}
),

published as (
    select
        region_code,
        period_month,
        count(*) as practice_count,
        sum(case when is_submission_count_suppressed then 1 else 0 end) as suppressed_practice_count,
        sum(registered_patient_count) as registered_patient_count,
        sum(submission_count) as submission_count,
        sum(case when submission_count is not null then registered_patient_count end) as rate_patient_count,
        max(load_id) as load_id
    from practice_months
    group by
        region_code,
        period_month
),

extract_totals as (
    select
        region_code,
        period_month,
        sum(submission_count) as extract_submission_count
    from extracts
    group by
        region_code,
        period_month
),

final as (
    select
        {%- set month_text = "cast(published.period_month as varchar(10))" %}
        cast({{ dbt.concat(["published.region_code", "'-'", month_text]) }} as varchar(48)) as region_month_id,
        cast(published.region_code as varchar(16)) as region_code,
        cast(regions.region_name as varchar(64)) as region_name,
        published.period_month,
        cast(published.practice_count as bigint) as practice_count,
        cast(published.suppressed_practice_count as bigint) as suppressed_practice_count,
        cast(published.registered_patient_count as bigint) as registered_patient_count,
        cast(published.submission_count as bigint) as submission_count,
        cast(
            case
                when published.rate_patient_count > 0
                    then 1000.0 * published.submission_count / published.rate_patient_count
            end as numeric(12, 2)
        ) as submission_rate_per_1000,
        cast(extract_totals.extract_submission_count as bigint) as extract_submission_count,
        -- lineage
        cast(published.load_id as varchar(32)) as load_id
    from published
    left join regions
        on published.region_code = regions.region_code
    left join extract_totals
        on
            published.region_code = extract_totals.region_code
            and published.period_month = extract_totals.period_month
)

select * from final
