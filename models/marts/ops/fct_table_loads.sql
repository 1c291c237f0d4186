with loads as (
    select * from {{ ref('int_ops__table_loads_unioned') }}
),

quarantine as (
    select * from {{ ref('stg_publications__quarantine') }}
),

quarantined as (
    select
        run_id,
        publication_name,
        table_name,
        period,
        sum(case when is_rejected then 1 else 0 end) as quarantined_count,
        sum(case when is_rejected then 0 else 1 end) as flagged_count
    from quarantine
    group by
        run_id,
        publication_name,
        table_name,
        period
),

compared as (
    select
        loads.*,
        quarantined.quarantined_count,
        quarantined.flagged_count,
        lag(loads.row_count) over (
            partition by loads.source_name, loads.table_name order by loads.period, loads.loaded_at
        ) as previous_row_count
    from loads
    left join quarantined
        on
            loads.run_id = quarantined.run_id
            and loads.source_name = quarantined.publication_name
            and loads.table_name = quarantined.table_name
            and loads.period = quarantined.period
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
        cast(coalesce(quarantined_count, 0) as bigint) as quarantined_count,
        cast(coalesce(flagged_count, 0) as bigint) as flagged_count,
        loaded_at,
        coalesce(
            source_family = 'publications'
            and (row_count = 0 or row_count < 0.5 * previous_row_count),
            false
        ) as is_suspicious_volume
    from compared
)

select * from final
