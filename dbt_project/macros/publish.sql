{#
    Write-audit-publish. Every relation keeps its published name in the manifest, so
    docs, `dbt test`, `dbt show` and `dbt compile` read what readers see. Only commands
    that write models (build and run; `dbt retry` reruns them as such) redirect, at run
    time: the project's table materialization writes the "<schema>__next" twin, and `ref`
    (ref.sql) points there. Nothing decided at parse time depends on the command, so partial
    parsing cannot carry one command's schemas into another. `dbt build` publishes the
    twins at the end, in one Postgres transaction, only when every model and test of the
    project passed.
#}

{# The published name of a schema; the postgres target writes "postgres_<schema>", so the two engines can be compared. #}
{% macro lakehouse_schema(name) -%}
    {{ return(('postgres_' if target.type == 'postgres' and name != var('raw_schema') else '') ~ name) }}
{%- endmacro %}

{#
    The warehouse schemas a build writes under "__next" and publishes: the marts, the history
    (macros/history.sql; postgres_history.sql on dbt-postgres) and the raw copy (dbt-duckdb only). Spark publishes nothing
    itself: its tables stay in its own catalog, and `make load TARGET=spark` publishes its
    marts through the lakehouse target (spark_marts.sql).
#}
{% macro lakehouse_published_schemas() %}
    {% if target.type == 'spark' %}
        {{ return([]) }}
    {% endif %}
    {{ return([lakehouse_schema('marts'), lakehouse_schema('history')] + ([var('raw_schema')] if target.type == 'duckdb' else [])) }}
{% endmacro %}

{# Whether this command writes models, and so writes (and reads) the unpublished twins. #}
{% macro lakehouse_writing() %}
    {{ return(execute and flags.WHICH in ['build', 'run']) }}
{% endmacro %}

{# The "__next" twin of a schema name, or of a Relation in a published schema (any other Relation is its own). #}
{% macro lakehouse_building(relation) %}
    {% if relation is string %}
        {{ return(relation ~ '__next') }}
    {% endif %}
    {% if relation.schema in lakehouse_published_schemas() %}
        {{ return(relation.incorporate(path={'schema': lakehouse_building(relation.schema)})) }}
    {% endif %}
    {{ return(relation) }}
{% endmacro %}

{#
    On-run-start of build and run: empty the twins. What a killed build left there is
    never published, and a table gone from the source must not be published again.
    Through the adapter, so dbt's relation cache knows. Each twin is claimed for this run
    (lakehouse_claim): publish_schemas swaps in only twins that still carry its claim.
#}
{% macro reset_building_schemas() %}
    {% if lakehouse_writing() %}
        {% set claims = [] %}
        {% for name in lakehouse_published_schemas() %}
            {% set relation = api.Relation.create(database=lakehouse_database(), schema=lakehouse_building(name)) %}
            {% do adapter.drop_schema(relation) %}
            {% do adapter.create_schema(relation) %}
            {% do claims.append('comment on schema ' ~ lake_quote(lakehouse_building(name)) ~ ' is '
                ~ lake_sql_string(lakehouse_claim())) %}
        {% endfor %}
        {% do run_query(lakehouse_warehouse_sql(claims)) if claims %}
        {#
            The schemas of the tests' failing rows, made here in Postgres before the raw copy
            refreshes DuckDB's view of the warehouse: made later by dbt, through one of
            DuckDB's connections, a test on another thread may not find it yet.
        #}
        {% if target.type == 'duckdb' %}
            {% set statements = [] %}
            {% for schema in graph.nodes.values() | selectattr('resource_type', 'equalto', 'test')
                | map(attribute='schema') | unique %}
                {% do statements.append('create schema if not exists ' ~ lake_quote(schema)) %}
            {% endfor %}
            {% do run_query(lake_postgres_call(statements | join('; '))) if statements %}
        {% endif %}
    {% endif %}
{% endmacro %}

{#
    The note a run leaves on the twins it builds. The writer lock (extract/writer_lock.py)
    keeps a second run out; the claim proves it at publish time, whoever ignored the lock.
#}
{% macro lakehouse_claim() %}
    {{ return('building ' ~ invocation_id) }}
{% endmacro %}

{# The database of the warehouse: the attached Postgres on dbt-duckdb, the target's own on dbt-postgres. #}
{% macro lakehouse_database() %}
    {{ return('warehouse' if target.type == 'duckdb' else target.database) }}
{% endmacro %}

{#
    What keeps this run from publishing, or none: only a whole, audited `dbt build`
    publishes (every model and every test of the project, on real rows).
#}
{% macro lakehouse_unpublishable(results) %}
    {% if flags.WHICH != 'build' %}
        {{ return('dbt ' ~ flags.WHICH ~ ' runs no tests; dbt build publishes') }}
    {% endif %}
    {% if flags.EMPTY %}
        {{ return('--empty builds no rows') }}
    {% endif %}
    {% set passed = results | selectattr('status', 'in', ['success', 'pass', 'warn']) | map(attribute='node.unique_id') | list %}
    {% set missing = {'model': 0, 'test': 0} %}
    {% for node in graph.nodes.values() if node.resource_type == 'test'
        or (node.resource_type == 'model' and node.config.materialized != 'ephemeral') %}
        {% if node.unique_id not in passed %}
            {% do missing.update({node.resource_type: missing[node.resource_type] + 1}) %}
        {% endif %}
    {% endfor %}
    {% if missing['model'] or missing['test'] %}
        {{ return(missing['model'] ~ ' models and ' ~ missing['test'] ~ ' tests did not run or did not pass') }}
    {% endif %}
    {{ return(none) }}
{% endmacro %}

{# On-run-end: swap the twins this run claimed in, in one transaction, with the run date in their comments. #}
{% macro publish_schemas(results) %}
    {% if not lakehouse_writing() %}
        {{ return('') }}
    {% endif %}
    {% if target.type == 'spark' %}
        {{ log('step 2 on Spark: built and tested in Spark\'s catalog; make load TARGET=spark publishes its marts', info=true) }}
        {{ return('') }}
    {% endif %}
    {% set reason = lakehouse_unpublishable(results) %}
    {% if reason %}
        {{ log('step 2: warehouse NOT published (' ~ reason ~ '); it keeps its previous contents', info=true) }}
        {{ return('') }}
    {% endif %}
    {% set statements = ['begin'] %}
    {% for published in lakehouse_published_schemas() %}
        {% set building = lakehouse_building(published) %}
        {% set claimed = "(select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = "
            ~ lake_sql_string(building) ~ ")" %}
        {% do statements.append('do $claim$ begin if ' ~ claimed ~ ' is distinct from ' ~ lake_sql_string(lakehouse_claim())
            ~ ' then raise exception ' ~ lake_sql_string(building ~ ' was rebuilt by another run: nothing published') ~ '; end if; end $claim$') %}
        {# Readers and the export can tell which day a published schema holds. #}
        {% do statements.append('comment on schema ' ~ lake_quote(building) ~ ' is '
            ~ lake_sql_string('run_date ' ~ lake_run_date())) %}
        {% do statements.append('drop schema if exists ' ~ lake_quote(published) ~ ' cascade') %}
        {% do statements.append('alter schema ' ~ lake_quote(building) ~ ' rename to ' ~ lake_quote(published)) %}
    {% endfor %}
    {#
        The warehouse's own record of what it published, in the same transaction: a CLI
        killed between this commit and its ledger's "success" is still known to have published.
    #}
    {% set run = lake_setting('run_id', 'LAKEHOUSE_RUN_ID', none) %}  {# the ledger's run, from the CLI #}
    {% do statements.append('create schema if not exists lakehouse') %}
    {% do statements.append('create table if not exists lakehouse.publications (run_date date not null, '
        ~ 'schemas text not null, dbt_invocation text not null, ledger_run text, published_at timestamptz not null default now())') %}
    {% do statements.append('insert into lakehouse.publications (run_date, schemas, dbt_invocation, ledger_run) values ('
        ~ lake_sql_string(lake_run_date()) ~ ', ' ~ lake_sql_string(lakehouse_published_schemas() | join(', ')) ~ ', '
        ~ lake_sql_string(invocation_id) ~ ', ' ~ (lake_sql_string(run) if run else 'null') ~ ')') %}
    {% do statements.append('commit') %}
    {{ log('step 2: publishing schemas ' ~ lakehouse_published_schemas() | join(', '), info=true) }}
    {{ return(lakehouse_warehouse_sql(statements)) }}
{% endmacro %}

{# The SQL that runs `statements` (PostgreSQL's dialect) in the warehouse: through DuckDB's attached database on dbt-duckdb, as they are on dbt-postgres. #}
{% macro lakehouse_warehouse_sql(statements) %}
    {% if target.type == 'duckdb' %}
        {{ return(lake_postgres_call(statements | join('; '))) }}
    {% endif %}
    {{ return(statements | join(';\n')) }}
{% endmacro %}

{# A table expression of the rows of `sql` (PostgreSQL's dialect), run in the warehouse: through DuckDB's attached database on dbt-duckdb. #}
{% macro lakehouse_warehouse_query(sql) %}
    {% if target.type == 'duckdb' %}
        {{ return(lake_postgres_query(sql)) }}
    {% endif %}
    {{ return('(' ~ sql ~ ') as warehouse_query') }}
{% endmacro %}
