with attributes as (
    select * from {{ ref('int_publications__practice_attributes') }}
),

practice_months as (
    select * from {{ ref('stg_publications__practice_summary') }}
),

regions as (
    select * from {{ ref('regions') }}
),

coverage as (
    select
        practice_code,
        min(period_month) as first_period_month,
        max(period_month) as last_period_month,
        count(distinct period) as period_count
    from practice_months
    group by practice_code
),

latest_release as (
    select max(period_month) as latest_period_month
    from practice_months
),

final as (
    select
        cast(attributes.practice_code as varchar(16)) as practice_code,
        cast(attributes.practice_name as varchar(200)) as practice_name,
        cast(attributes.region_code as varchar(16)) as region_code,
        cast(regions.region_name as varchar(64)) as region_name,
        cast(attributes.sub_region_code as varchar(16)) as sub_region_code,
        cast(attributes.sub_region_name as varchar(200)) as sub_region_name,
        cast(attributes.pcn_code as varchar(16)) as pcn_code,
        coverage.first_period_month,
        coverage.last_period_month,
        cast(coverage.period_count as integer) as period_count,
        coverage.last_period_month = latest_release.latest_period_month as is_in_latest_release
    from attributes
    inner join coverage
        on attributes.practice_code = coverage.practice_code
    cross join latest_release
    left join regions
        on attributes.region_code = regions.region_code
)

select * from final
