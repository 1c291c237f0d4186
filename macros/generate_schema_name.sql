{#-
    dbt's documented pattern for dev and prod: on a prod target (var prod_targets: duckdb, postgres) each layer gets
    exactly the schema it declares (silver, gold, snapshots, reference); on any other target (duckdb_dev,
    postgres_dev) the target's own schema prefixes it (dev_silver, alice_gold), so two people build side by side on
    one warehouse. The ingestion names bronze and ops the same way (ingestion/paths.py, schema()).
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif target.name in var('prod_targets') -%}
        {{ custom_schema_name | trim }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
