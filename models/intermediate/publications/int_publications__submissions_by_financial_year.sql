-- Monthly practice submissions summed into the financial years of the annual payments publication: a month
-- belongs to the year whose first and last day (from publication_periods) contain the month's first day.
with practice_months as (
    select * from {{ ref('stg_publications__practice_summary') }}
),

periods as (
    select * from {{ ref('stg_publications__periods') }}
),

months as (
    select
        period,
        period_start_date
    from periods
    where publication_name = 'practice_submissions'
),

financial_years as (
    select
        period as financial_year,
        period_start_date,
        period_end_date
    from periods
    where publication_name = 'practice_payments'
),

joined as (
    select
        practice_months.practice_code,
        financial_years.financial_year,
        practice_months.submission_count
    from practice_months
    inner join months
        on practice_months.period = months.period
    inner join financial_years
        on months.period_start_date between financial_years.period_start_date and financial_years.period_end_date
),

final as (
    select
        practice_code,
        financial_year,
        count(*) as month_count,
        sum(submission_count) as submission_count
    from joined
    group by
        practice_code,
        financial_year
)

select * from final
