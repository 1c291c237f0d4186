-- Table 2 of the annual payments workbook: one row per practice and financial year, under a two-row header
-- ("Practice / Code", "Payments (£) / Global sum") that the reader joined into one name per column.
with source as (
    select * from {{ source('publications', 'practice_payments') }}
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
        -- attributes
        trim(practice_name) as practice_name,
        -- period
        _period as financial_year,
        -- measures
        {{ suppressed_number('payments_global_sum', 'numeric(14, 2)') }} as global_sum_gbp,
        {{ suppressed_number('payments_quality_and_outcomes', 'numeric(14, 2)') }} as quality_and_outcomes_gbp,
        {{ suppressed_number('payments_total', 'numeric(14, 2)') }} as total_payments_gbp,
        -- flags
        {{ is_suppressed('payments_quality_and_outcomes') }} as is_quality_and_outcomes_suppressed,
        -- lineage: the file, sheet or member and its sha256 are on the manifest row of (load_id, source_part_id)
        _dlt_load_id as load_id,
        _part as source_part_id,
        _source_row as source_row
    from ranked
    where duplicate_rank = 1
)

select * from renamed
