-- The regional extracts in the release ZIP and Table 2 of the workbook describe the same practices: every
-- sub-region's practice count must match the number of practices Table 2 lists for it that month.
with extracts as (
    select * from {{ ref('stg_publications__regional_extracts') }}
),

practices as (
    select * from {{ ref('stg_publications__practice_summary') }}
),

listed as (
    select
        sub_region_code,
        period,
        count(*) as listed_practice_count
    from practices
    group by
        sub_region_code,
        period
),

compared as (
    select
        extracts.sub_region_code,
        extracts.period,
        extracts.practice_count,
        coalesce(listed.listed_practice_count, 0) as listed_practice_count
    from extracts
    left join listed
        on
            extracts.sub_region_code = listed.sub_region_code
            and extracts.period = listed.period
)

select * from compared
where practice_count != listed_practice_count
