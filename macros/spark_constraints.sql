{#-
    Spark keeps a model's `not_null` constraints only in Delta tables (dbt-spark alters the table); on Parquet it
    would keep none, silently. Here, on Parquet, each `not_null` constraint of a contracted model is checked once the
    model is written: a null in such a column fails the model, naming the column and the rows, as the constraint
    fails the insert on DuckDB and PostgreSQL (there the model's table is left as it was; here it holds the rows).
-#}
{% macro spark__persist_constraints(relation, model) -%}
    {%- set contract = config.get('contract') -%}
    {%- if contract.enforced and config.get('file_format', 'delta') == 'delta' -%}
        {%- do alter_table_add_constraints(relation, model.constraints) -%}
        {%- do alter_column_set_constraints(relation, model.columns) -%}
    {%- elif contract.enforced -%}
        {%- set not_null = [] -%}
        {%- for name, column in model.columns.items() -%}
            {%- if column.constraints | selectattr('type', 'equalto', 'not_null') | list -%}
                {%- do not_null.append(name) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if not_null -%}
            {%- set counts = [] -%}
            {%- for name in not_null -%}
                {%- do counts.append("count_if(" ~ name ~ " is null) as " ~ name) -%}
            {%- endfor -%}
            {%- set found = run_query("select " ~ counts | join(", ") ~ " from " ~ relation) -%}
            {%- for name in not_null -%}
                {%- set nulls = found.columns[name].values()[0] -%}
                {%- if nulls -%}
                    {{ exceptions.raise_compiler_error(
                        "not_null constraint of " ~ relation ~ "." ~ name ~ " violated: " ~ nulls ~ " rows hold null"
                    ) }}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
