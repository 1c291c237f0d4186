-- Every file, sheet and ZIP member each load of a period saw, how it was classified and the rows it brought. A bronze
-- row names its part by (_dlt_load_id, _part): load_id and source_part_id here.
with source as (
    select * from {{ source('publications', 'publication_manifest') }}
),

renamed as (
    select
        -- ids
        run_id,
        _dlt_load_id as load_id,
        cast(part_id as bigint) as source_part_id,
        publication as publication_name,
        bronze_table as table_name,
        -- period
        period,
        -- where
        file_name as source_file,
        file_location,
        file_sha256,
        part_kind,
        part_name as source_part,
        -- what
        classification,
        status,
        name_rule,
        -- measures
        cast(file_size_bytes as bigint) as file_size_bytes,
        cast(row_count as bigint) as row_count,
        -- timestamps
        recorded_at
    from source
)

select * from renamed
