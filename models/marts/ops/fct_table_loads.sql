with loads as (
    select * from {{ ref('stg_ops__table_loads') }}
),

compared as (
    select
        *,
        lag(row_count) over (
            partition by source_name, table_name order by period, loaded_at
        ) as previous_row_count
    from loads
),

final as (
    select
        cast(run_id as varchar(64)) as run_id,
        cast(source_family as varchar(32)) as source_family,
        cast(source_name as varchar(64)) as source_name,
        cast(table_name as varchar(64)) as table_name,
        cast(period as varchar(7)) as period,
        cast(row_count as bigint) as row_count,
        cast(previous_row_count as bigint) as previous_row_count,
        loaded_at,
        coalesce(
            source_family = 'publications'
            and (row_count = 0 or row_count < 0.5 * previous_row_count),
            false
        ) as is_suspicious_volume
    from compared
)

select * from final
