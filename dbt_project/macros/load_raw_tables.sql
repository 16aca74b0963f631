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
                {% set relation = '"' ~ schema ~ '"."' ~ manifest['table'] | replace('"', '""') ~ '"' %}
                {% set columns = [] %}
                {% for column in manifest['columns'] %}
                    {% do columns.append('"' ~ column['name'] | replace('"', '""') ~ '" ' ~ column['source_type']) %}
                {% endfor %}
                {% set ddl = 'drop table if exists ' ~ relation ~ '; create table ' ~ relation ~ ' (' ~ columns | join(', ') ~ ')' %}
                {% do run_query("call postgres_execute('warehouse', " ~ lake_sql_string(ddl) ~ ")") %}
                {# DuckDB caches the Postgres catalog: make it see the table just created. #}
                {% do run_query("call pg_clear_cache()") %}
                {% do run_query("insert into warehouse." ~ relation ~ " select * from " ~ lake_read_partition(manifest)) %}
            {% endfor %}
        {% endfor %}
    {% endif %}
{% endmacro %}
