{#-
    The deletion columns of a service-desk record left-joined to its row of stg_servicedesk__deletions:
    is_deleted (never null), deleted_at (when a deletion check found it gone), and changed_at, the record's
    updated_at moved to the check's time when the check changed it (deleted, or listed again after a deletion), so a
    timestamp snapshot records both as versions. changed_at is in UTC without a time zone, the type of dbt's own
    snapshot clock (snapshot_get_time) on both engines: dbt compares the two types and warns when they differ.
-#}
{% macro deletion_flags(record, deletions) -%}
    coalesce({{ deletions }}.is_deleted, false) as is_deleted,
    case when {{ deletions }}.is_deleted then {{ deletions }}.checked_at end as deleted_at,
    {{ utc_wall_clock(
        "case when " ~ deletions ~ ".checked_at > " ~ record ~ ".updated_at then " ~ deletions ~ ".checked_at "
        ~ "else " ~ record ~ ".updated_at end") }} as changed_at
{%- endmacro %}
