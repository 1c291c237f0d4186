{#-
    The periods of `publication` an incremental model rebuilds, as a subquery for `... in (...)`: each period whose
    load the model does not hold (published for the first time, or again) and each period the model holds that the
    publication no longer lists (removed). Read from the small publication_periods table, compared period by period
    with the load ids the model holds (`this` has `load_id`). `key`: the model's period column; `as_month`: the model
    keys months by their first day (period_month) rather than by the period's text.
-#}
{% macro periods_to_rebuild(publication, key='period', as_month=false) -%}
    {%- set listed -%}
        (
            select
                {{ 'cast(period_start as date)' if as_month else 'period' }} as period_key,
                load_id as period_load_id
            from {{ source('publications', 'publication_periods') }}
            where publication = '{{ publication }}'
        )
    {%- endset -%}
    select listed.period_key from {{ listed }} as listed
    where not exists (
        select 1 from {{ this }} as built
        where built.{{ key }} = listed.period_key and built.load_id = listed.period_load_id
    )
    union all
    select distinct built.{{ key }} from {{ this }} as built
    where not exists (select 1 from {{ listed }} as listed where listed.period_key = built.{{ key }})
{%- endmacro %}

{#- Before an incremental build inserts them, the periods it rebuilds are deleted (same transaction). -#}
{% macro delete_periods_to_rebuild(publication, key='period', as_month=false) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ key }} in ({{ periods_to_rebuild(publication, key, as_month) }})
    {%- endif -%}
{%- endmacro %}
