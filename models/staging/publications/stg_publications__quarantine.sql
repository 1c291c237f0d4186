-- What each period's current load could not take as it was: one row per rejected row or flagged cell.
with source as (
    select * from {{ source('publications', 'quarantine') }}
),

renamed as (
    select
        -- ids
        run_id,
        load_id,
        publication as publication_name,
        bronze_table as table_name,
        -- period
        period,
        -- where
        file_name as source_file,
        part_name as source_part,
        source_row,
        column_name,
        -- what
        raw_value,
        reason,
        disposition,
        disposition = 'rejected' as is_rejected,
        -- timestamps
        recorded_at
    from source
)

select * from renamed
