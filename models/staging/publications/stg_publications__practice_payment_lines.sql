-- The payments extract ZIP: one CSV per region, one row per practice, payment type and financial year.
with source as (
    select * from {{ source('publications', 'practice_payment_lines') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _period, practice_code, payment_type
            order by _dlt_load_id desc, _part asc, _source_row asc
        ) as duplicate_rank
    from source
),

renamed as (
    select
        -- ids
        trim(practice_code) as practice_code,
        trim(payment_type) as payment_type,
        -- period
        _period as financial_year,
        -- measures
        cast(amount_gbp as numeric(14, 2)) as amount_gbp,
        cast(registered_patients as bigint) as registered_patient_count,
        -- lineage: the file, sheet or member and its sha256 are on the manifest row of (load_id, source_part_id)
        _dlt_load_id as load_id,
        _part as source_part_id,
        _source_row as source_row
    from ranked
    where duplicate_rank = 1
)

select * from renamed
