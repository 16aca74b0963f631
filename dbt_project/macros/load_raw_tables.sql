{#
    Copy every partition of the run date into the warehouse's raw schema, each table
    created with its source's PostgreSQL column types, so a new source table reaches
    the warehouse without a model of its own. The DDL of all tables goes in one round
    trip, so DuckDB reloads its Postgres catalog once, not once per table.
#}
{% macro load_raw_tables() %}
    {% if target.type == 'duckdb' and lakehouse_writing() %}
        {% set schema = lakehouse_building(var('raw_schema')) %}
        {% set ledger = lake_ledger() %}
        {% set manifests = ledger['extract_postgres']['details']['partitions']
            + ledger['extract_csv']['details']['partitions'] %}
        {# The schema was emptied by reset_building_schemas (on-run-start). #}
        {% set ddl = [] %}
        {% set alters = [] %}
        {% for manifest in manifests %}
            {% set table = lake_raw_table(schema, manifest) %}
            {% do ddl.extend(table['ddl']) %}
            {% do alters.extend(table['alters']) %}
        {% endfor %}
        {% do lake_postgres_execute(ddl) %}
        {% for manifest in manifests %}
            {% set relation = lake_quote(schema) ~ '.' ~ lake_quote(manifest['table']) %}
            {% do run_query("insert into warehouse." ~ relation ~ " select * from " ~ lake_read_partition(manifest)) %}
        {% endfor %}
        {% if alters %}
            {% do lake_postgres_execute(alters) %}
        {% endif %}
        {% set tables = [] %}
        {% for manifest in manifests %}
            {% do tables.append((lake_quote(schema) ~ '.' ~ lake_quote(manifest['table']), manifest)) %}
        {% endfor %}
        {% do lake_reconcile(tables) %}
    {% endif %}
{% endmacro %}

{# Run statements in the warehouse through Postgres itself, then make DuckDB see what they changed. #}
{% macro lake_postgres_execute(statements) %}
    {% do run_query(lake_postgres_call(statements | join('; '))) %}
    {% do run_query("call pg_clear_cache()") %}
{% endmacro %}

{#
    The statements for one partition's table in "<schema>": `ddl` creates it with the
    warehouse type of each column (and its enum, composite and domain types); `alters` turn the
    columns that land in another type (text, or a domain's base type) into their source
    type once filled, converted and checked by PostgreSQL itself.
#}
{% macro lake_raw_table(schema, manifest) %}
    {% set relation = lake_quote(schema) ~ '.' ~ lake_quote(manifest['table']) %}
    {% set columns, ddl, alters = [], [], [] %}
    {% for column in manifest['columns'] %}
        {% set target_type = column['source_type'] %}
        {% if column.get('enum_labels') is not none %}
            {% set enum = lake_quote(schema) ~ '.' ~ lake_quote(column['type_name']) %}
            {% set labels = [] %}
            {% for label in column['enum_labels'] %}{% do labels.append(lake_sql_string(label)) %}{% endfor %}
            {% do ddl.append(lake_create_type(enum, 'enum (' ~ labels | join(', ') ~ ')')) %}
            {% set target_type = enum ~ ('[]' if column.get('enum_array') else '') %}
        {% elif column.get('composite_fields') is not none %}
            {% set composite = lake_quote(schema) ~ '.' ~ lake_quote(column['type_name']) %}
            {% do ddl.append(lake_create_type(composite, '(' ~ column['composite_fields'] | join(', ') ~ ')')) %}
            {% set target_type = composite ~ ('[]' if column['composite_array'] else '') %}
        {% elif column.get('domain') is not none %}
            {% set target_type = lake_quote(schema) ~ '.' ~ lake_quote(column['domain']) %}
            {% do ddl.append(lake_create_type(target_type, column['source_type'] ~ ' '
                ~ column['domain_clauses'] | join(' '), 'domain')) %}
        {% endif %}
        {% do columns.append(lake_quote(column['name']) ~ ' ' ~ column['warehouse_type']) %}
        {% if column['warehouse_type'] != target_type %}
            {#
                A value comes back through its type's cast from text: PostgreSQL's input function for
                every type but regclass, whose cast is a function of its own that reads no zero OID ("-").
            #}
            {% set value = lake_quote(column['name']) %}
            {% do alters.append('alter column ' ~ value ~ ' type ' ~ target_type ~ ' using '
                ~ ('regclassin(' ~ value ~ '::cstring)' if target_type == 'regclass' else value ~ '::' ~ target_type)) %}
        {% endif %}
    {% endfor %}
    {% do ddl.append('create table ' ~ relation ~ ' (' ~ columns | join(', ') ~ ')') %}
    {{ return({'ddl': ddl, 'alters': ['alter table ' ~ relation ~ ' ' ~ alters | join(', ')] if alters else []}) }}
{% endmacro %}

{#
    Row count and sums of exact numeric columns in the warehouse must equal the lake's
    (manifest), for each (relation, manifest) of `tables`. PostgreSQL sums them itself:
    through the scanner, every value would cross over first (three times slower on 2 M
    order lines). One query for all tables: a row each, its measures as one text.
#}
{% macro lake_reconcile(tables) %}
    {% set selects = [] %}
    {% for relation, manifest in tables %}
        {% set measures = ['count(*)::text'] %}
        {% for name in manifest['checksums'] %}
            {% do measures.append("coalesce(sum(" ~ lake_quote(name) ~ ")::text, 'null')") %}
        {% endfor %}
        {% do selects.append("select " ~ loop.index0 ~ " as i, concat_ws(',', " ~ measures | join(", ")
            ~ ") as found from " ~ relation) %}
    {% endfor %}
    {% set found = {} %}
    {% for row in run_query("select * from " ~ lake_postgres_query(selects | join(' union all '))).rows %}
        {% do found.update({row[0]: row[1].split(',')}) %}
    {% endfor %}
    {% for relation, manifest in tables %}
        {% set values = found[loop.index0] %}
        {% set problems = [] %}
        {% if values[0] | int != manifest['rows'] %}
            {% do problems.append(manifest['rows'] ~ ' rows in the lake, ' ~ values[0] ~ ' in the warehouse') %}
        {% endif %}
        {% for name, expected in manifest['checksums'].items() %}
            {% set value = none if values[loop.index] == 'null' else values[loop.index] %}
            {% if value != expected %}
                {% do problems.append('sum(' ~ name ~ ') is ' ~ expected ~ ' in the lake, ' ~ value ~ ' in the warehouse') %}
            {% endif %}
        {% endfor %}
        {% if problems %}
            {{ exceptions.raise_compiler_error('reconciliation failed for ' ~ relation ~ ': ' ~ problems | join('; ')) }}
        {% endif %}
    {% endfor %}
{% endmacro %}

{# A statement that creates an enum or domain type once, however many columns use it. #}
{% macro lake_create_type(name, definition, kind='type') %}
    {{ return('do $$ begin create ' ~ kind ~ ' ' ~ name ~ ' as ' ~ definition
        ~ '; exception when duplicate_object then null; end $$') }}
{% endmacro %}
