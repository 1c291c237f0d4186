-- One row per published period of every publication: its calendar and the days it covers, written by the
-- ingestion with the period. What publications of different frequencies join on (a month within a financial year).
with source as (
    select * from {{ source('publications', 'publication_periods') }}
),

renamed as (
    select
        -- ids
        publication as publication_name,
        period,
        -- attributes
        frequency as period_frequency,
        -- dates
        cast(period_start as date) as period_start_date,
        cast(period_end as date) as period_end_date,
        -- lineage
        run_id,
        load_id,
        published_at
    from source
)

select * from renamed
