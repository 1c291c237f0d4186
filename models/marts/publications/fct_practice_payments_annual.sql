-- Payments to each practice per financial year (annual publication) beside the submissions it made in the months
-- of that year that the monthly publication covers: two publications of different frequencies joined on the days
-- their periods cover.
with payments as (
    select * from {{ ref('stg_publications__practice_payments') }}
),

lines as (
    select * from {{ ref('stg_publications__practice_payment_lines') }}
),

periods as (
    select * from {{ ref('stg_publications__periods') }}
),

submissions as (
    select * from {{ ref('int_publications__submissions_by_financial_year') }}
),

patients as (
    select
        practice_code,
        financial_year,
        max(registered_patient_count) as registered_patient_count
    from lines
    group by
        practice_code,
        financial_year
),

final as (
    select
        cast({{ dbt.concat(["payments.practice_code", "'-'", "payments.financial_year"]) }} as varchar(32))
            as practice_year_id,
        cast(payments.practice_code as varchar(16)) as practice_code,
        cast(payments.financial_year as varchar(8)) as financial_year,
        periods.period_start_date as year_start_date,
        periods.period_end_date as year_end_date,
        cast(payments.global_sum_gbp as numeric(14, 2)) as global_sum_gbp,
        cast(payments.quality_and_outcomes_gbp as numeric(14, 2)) as quality_and_outcomes_gbp,
        cast(payments.total_payments_gbp as numeric(14, 2)) as total_payments_gbp,
        payments.is_quality_and_outcomes_suppressed,
        cast(patients.registered_patient_count as bigint) as registered_patient_count,
        cast(coalesce(submissions.month_count, 0) as bigint) as submission_month_count,
        cast(submissions.submission_count as bigint) as submission_count,
        cast(
            case
                when submissions.submission_count > 0
                    then payments.total_payments_gbp / submissions.submission_count
            end as numeric(14, 2)
        ) as payments_per_submission_gbp,
        -- lineage: the annual release's load (the months summed are in fct_practice_submissions_monthly)
        cast(payments.load_id as varchar(32)) as load_id
    from payments
    inner join periods
        on
            periods.publication_name = 'practice_payments'
            and payments.financial_year = periods.period
    left join patients
        on
            payments.practice_code = patients.practice_code
            and payments.financial_year = patients.financial_year
    left join submissions
        on
            payments.practice_code = submissions.practice_code
            and payments.financial_year = submissions.financial_year
)

select * from final
