-- Each practice's attributes as of the latest period it was published in: the input of the practice snapshot.
with practices as (
    select * from {{ ref('stg_publications__practice_summary') }}
),

ranked as (
    select
        *,
        row_number() over (partition by practice_code order by period desc) as recency_rank
    from practices
),

latest as (
    select
        practice_code,
        practice_name,
        region_code,
        sub_region_code,
        sub_region_name,
        pcn_code,
        period as latest_period,
        period_month as latest_period_month
    from ranked
    where recency_rank = 1
)

select * from latest
