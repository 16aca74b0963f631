{#
    Copy every partition of the run date into the warehouse's raw schema, each table
    created with its source's PostgreSQL column types, so a new source table reaches
    the warehouse without a model of its own.
#}
{% macro load_raw_tables() %}
    {% if execute and target.type == 'duckdb' and flags.WHICH in ['build', 'run'] %}
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
        {% do run_query("call pg_clear_cache()") %}
    {% endif %}
    {% do lake_reconcile(relation, manifest) %}
{% endmacro %}

{#
    Row count and sums of exact numeric columns in the warehouse must equal the lake's
    (manifest). PostgreSQL sums them itself: through the scanner, every value would
    cross over first (three times slower on 2 M order lines).
#}
{% macro lake_reconcile(relation, manifest) %}
    {% set names = manifest['checksums'].keys() | list %}
    {% set measures = ['count(*) as c0'] %}
    {% for name in names %}
        {% do measures.append('sum(' ~ lake_quote(name) ~ ')::text as c' ~ loop.index) %}
    {% endfor %}
    {% set sums = 'select ' ~ measures | join(', ') ~ ' from ' ~ relation %}
    {% set found = run_query("select * from postgres_query('warehouse', " ~ lake_sql_string(sums) ~ ")").rows[0] %}
    {% set problems = [] %}
    {% if found[0] != manifest['rows'] %}
        {% do problems.append(manifest['rows'] ~ ' rows in the lake, ' ~ found[0] ~ ' in the warehouse') %}
    {% endif %}
    {% for name in names %}
        {% if found[loop.index] != manifest['checksums'][name] %}
            {% do problems.append('sum(' ~ name ~ ') is ' ~ manifest['checksums'][name] ~ ' in the lake, '
                ~ found[loop.index] ~ ' in the warehouse') %}
        {% endif %}
    {% endfor %}
    {% if problems %}
        {{ exceptions.raise_compiler_error('reconciliation failed for ' ~ relation ~ ': ' ~ problems | join('; ')) }}
    {% endif %}
{% endmacro %}
