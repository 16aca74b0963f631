{#
    Copy every partition of the run date into the warehouse's raw schema, each table
    created with its source's PostgreSQL column types, so a new source table reaches
    the warehouse without a model of its own.
#}
{% macro load_raw_tables() %}
    {% if execute and target.type == 'duckdb' %}
        {% set schema = lakehouse_schema(var('raw_schema')) %}
        {# Start from an empty schema: a table gone from the source must not be published again. #}
        {% set reset = 'drop schema if exists "' ~ schema ~ '" cascade; create schema "' ~ schema ~ '"' %}
        {% do run_query("call postgres_execute('warehouse', " ~ lake_sql_string(reset) ~ ")") %}
        {% set ledger = lake_ledger() %}
        {% for step in ['extract_postgres', 'extract_csv'] %}
            {% for manifest in ledger[step]['details']['partitions'] %}
                {% do lake_copy_partition(schema, manifest) %}
            {% endfor %}
        {% endfor %}
    {% endif %}
{% endmacro %}

{#
    One partition into "<schema>"."<table>": created with the warehouse type of each
    column, filled from the lake, then altered where PostgreSQL converts the value
    itself (wide numerics and enums land as text).
#}
{% macro lake_copy_partition(schema, manifest) %}
    {% set relation = lake_quote(schema) ~ '.' ~ lake_quote(manifest['table']) %}
    {% set columns, enums, alters = [], [], [] %}
    {% for column in manifest['columns'] %}
        {% set target_type = column['source_type'] %}
        {% if column.get('enum_labels') is not none %}
            {% set target_type = lake_quote(schema) ~ '.' ~ lake_quote(column['type_name']) %}
            {% set labels = [] %}
            {% for label in column['enum_labels'] %}{% do labels.append(lake_sql_string(label)) %}{% endfor %}
            {% do enums.append('do $$ begin create type ' ~ target_type ~ ' as enum (' ~ labels | join(', ')
                ~ '); exception when duplicate_object then null; end $$') %}
        {% endif %}
        {% do columns.append(lake_quote(column['name']) ~ ' ' ~ column['warehouse_type']) %}
        {% if column['warehouse_type'] != column['source_type'] %}
            {% do alters.append('alter column ' ~ lake_quote(column['name']) ~ ' type ' ~ target_type
                ~ ' using ' ~ lake_quote(column['name']) ~ '::' ~ target_type) %}
        {% endif %}
    {% endfor %}
    {% set ddl = enums + ['drop table if exists ' ~ relation, 'create table ' ~ relation ~ ' (' ~ columns | join(', ') ~ ')'] %}
    {% do run_query("call postgres_execute('warehouse', " ~ lake_sql_string(ddl | join('; ')) ~ ")") %}
    {# DuckDB caches the Postgres catalog: make it see the table just created. #}
    {% do run_query("call pg_clear_cache()") %}
    {% do run_query("insert into warehouse." ~ relation ~ " select * from " ~ lake_read_partition(manifest)) %}
    {% if alters %}
        {% set alter = 'alter table ' ~ relation ~ ' ' ~ alters | join(', ') %}
        {% do run_query("call postgres_execute('warehouse', " ~ lake_sql_string(alter) ~ ")") %}
    {% endif %}
{% endmacro %}
