{#-
    Type names the engines spell differently. `text_type()`: text of any length (varchar; Spark's string, as its
    varchar needs a length). `timestamptz_type()`: an instant (timestamp with time zone; Spark's timestamp, which
    is one: stored in UTC, shown in the session's zone).
-#}
{% macro text_type() -%}
    {{ return(adapter.dispatch('text_type', 'declarative_analytics')()) }}
{%- endmacro %}

{% macro default__text_type() -%}
    varchar
{%- endmacro %}

{% macro spark__text_type() -%}
    string
{%- endmacro %}

{% macro timestamptz_type() -%}
    {{ return(adapter.dispatch('timestamptz_type', 'declarative_analytics')()) }}
{%- endmacro %}

{% macro default__timestamptz_type() -%}
    timestamp with time zone
{%- endmacro %}

{% macro spark__timestamptz_type() -%}
    timestamp
{%- endmacro %}

{#- An instant as UTC wall-clock time, without a time zone. Spark's timestamp already is one (the session is UTC). -#}
{% macro utc_wall_clock(expression) -%}
    {{ return(adapter.dispatch('utc_wall_clock', 'declarative_analytics')(expression)) }}
{%- endmacro %}

{% macro default__utc_wall_clock(expression) -%}
    ({{ expression }}) at time zone 'UTC'
{%- endmacro %}

{% macro spark__utc_wall_clock(expression) -%}
    ({{ expression }})
{%- endmacro %}

{#- A type name written once for every engine (`varchar`, `double precision`, `timestamp with time zone`), in the
    engine's own spelling. -#}
{% macro portable_type(name) -%}
    {{ return(adapter.dispatch('portable_type', 'declarative_analytics')(name)) }}
{%- endmacro %}

{% macro default__portable_type(name) -%}
    {{ return(name) }}
{%- endmacro %}

{% macro spark__portable_type(name) -%}
    {%- set spelled = {
        'varchar': 'string', 'text': 'string', 'double precision': 'double', 'timestamp with time zone': 'timestamp'
    } -%}
    {{ return(spelled.get(name | lower, name)) }}
{%- endmacro %}
