-- The daily detail CSV rolled up to the grain of the practice table: one row per practice and period.
with detail as (
    select * from {{ ref('stg_publications__practice_detail') }}
),

monthly as (
    select
        practice_code,
        period,
        period_month,
        count(*) as detail_row_count,
        sum(submission_count) as detail_submission_count,
        sum(case when channel = 'Online' then submission_count else 0 end) as detail_online_submission_count,
        sum(case when channel = 'Paper' then submission_count else 0 end) as detail_paper_submission_count,
        sum(case when channel = 'Phone' then submission_count else 0 end) as detail_phone_submission_count
    from detail
    group by
        practice_code,
        period,
        period_month
)

select * from monthly
