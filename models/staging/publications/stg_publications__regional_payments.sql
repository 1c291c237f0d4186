-- Table 1 of the annual payments workbook: payments per region and payment type and financial year. The sheet is
-- presentation style; the reader carried the region label down, dropped the units row, the hidden column and the
-- separator rows, and moved note markers ([note 3]) out of the values into _notes. Cells land as text; cast here.
with source as (
    select * from {{ source('publications', 'regional_payments') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _period, trim(region), trim(payment_type)
            order by _dlt_load_id desc, _part asc, _source_row asc
        ) as duplicate_rank
    from source
),

renamed as (
    select
        -- ids
        trim(region) as region_name,
        trim(payment_type) as payment_type,
        -- period
        _period as financial_year,
        -- measures
        {{ suppressed_number('practices', 'bigint') }} as practice_count,
        {{ suppressed_number('total_payments', 'numeric(14, 1)') }} as total_payments_gbp_thousands,
        {{ suppressed_number('payment_per_registered_patient', 'numeric(10, 2)') }} as payment_per_patient_gbp,
        -- flags
        {{ is_suppressed('total_payments') }} as is_total_payments_suppressed,
        _notes as cell_notes,
        -- lineage: the file, sheet or member and its sha256 are on the manifest row of (load_id, source_part_id)
        _dlt_load_id as load_id,
        _part as source_part_id,
        _source_row as source_row
    from ranked
    where duplicate_rank = 1
)

select * from renamed
