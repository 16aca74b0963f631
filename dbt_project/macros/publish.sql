{#
    Step 2 builds into "<schema>__next" schemas and publishes them at the end of the run,
    in one Postgres transaction, only when every model and test succeeded. Readers see
    the previous day or the new one, never a mix; a failed or killed build changes nothing.
    The postgres target writes "postgres_<schema>", so the two engines can be compared.
#}
{% macro lakehouse_schema(name, building=none) -%}
    {%- set building = (flags.WHICH in ['build', 'run']) if building is none else building -%}
    {%- set published = name in lakehouse_published_schemas() -%}
    {%- set prefix = 'postgres_' if target.type == 'postgres' and name != var('raw_schema') else '' -%}
    {{ return(prefix ~ name ~ ('__next' if building and published else '')) }}
{%- endmacro %}

{#
    The warehouse schemas a build writes and publishes: on dbt-duckdb the raw copy and
    the marts (staging is views in DuckDB's own file); on dbt-postgres staging and marts.
#}
{% macro lakehouse_published_schemas() %}
    {{ return(['marts', var('raw_schema')] if target.type == 'duckdb' else ['staging', 'marts']) }}
{% endmacro %}

{#
    On-run-start: empty the schemas being built. What a killed build left there is never
    published, a table gone from the source must not be published again, and dbt would
    trip over a leftover mart (a table whose primary key was added). Through the adapter,
    so dbt's relation cache knows.
#}
{% macro reset_building_schemas() %}
    {% if execute and flags.WHICH in ['build', 'run'] %}
        {% for name in lakehouse_published_schemas() %}
            {% set relation = api.Relation.create(
                database='warehouse' if target.type == 'duckdb' else target.database,
                schema=lakehouse_schema(name, building=true)) %}
            {% do adapter.drop_schema(relation) %}
            {% do adapter.create_schema(relation) %}
        {% endfor %}
    {% endif %}
{% endmacro %}

{% macro publish_schemas(results) %}
    {% if not execute or flags.WHICH not in ['build', 'run'] %}
        {{ return('') }}
    {% endif %}
    {% set failed = results | selectattr('status', 'in', ['error', 'fail', 'skipped', 'runtime error']) | list %}
    {% set built = results | selectattr('status', 'equalto', 'success') | map(attribute='node.unique_id') | list %}
    {# A partial selection (--select) must not publish a half-built warehouse. #}
    {% set unbuilt = [] %}
    {% for node in graph.nodes.values() if node.resource_type == 'model' and node.config.materialized != 'ephemeral' %}
        {% if node.unique_id not in built %}{% do unbuilt.append(node.name) %}{% endif %}
    {% endfor %}
    {% if failed or unbuilt %}
        {{ log('step 2: warehouse NOT published (' ~ failed | length ~ ' failed, ' ~ unbuilt | length
            ~ ' models not built); it keeps its previous contents', info=true) }}
        {{ return('') }}
    {% endif %}
    {% set names = lakehouse_published_schemas() %}
    {# Readers and the export can tell which day the published marts hold. #}
    {% set statements = ['begin', 'comment on schema "' ~ lakehouse_schema('marts', building=true)
        ~ '" is ' ~ lake_sql_string('run_date ' ~ lake_run_date())] %}
    {% if target.type == 'duckdb' %}
        {# Staging tables from before staging became DuckDB views. #}
        {% do statements.append('drop schema if exists "staging" cascade') %}
    {% endif %}
    {% for name in names %}
        {% set published = lakehouse_schema(name, building=false) %}
        {% do statements.append('drop schema if exists "' ~ published ~ '" cascade') %}
        {% do statements.append('alter schema "' ~ lakehouse_schema(name, building=true) ~ '" rename to "' ~ published ~ '"') %}
    {% endfor %}
    {% do statements.append('commit') %}
    {{ log('step 2: publishing schemas ' ~ names | join(', '), info=true) }}
    {% if target.type == 'duckdb' %}
        {{ return(lake_postgres_call(statements | join('; '))) }}
    {% else %}
        {{ return(statements | join(';\n')) }}
    {% endif %}
{% endmacro %}
