{#
    Step 2 builds into "<schema>__next" schemas and publishes them at the end of the run,
    in one Postgres transaction, only when every model and test succeeded. Readers see
    the previous day or the new one, never a mix; a failed or killed build changes nothing.
    The postgres target writes "postgres_<schema>", so the two engines can be compared.
#}
{% macro lakehouse_schema(name, building=none) -%}
    {%- set building = (flags.WHICH in ['build', 'run']) if building is none else building -%}
    {%- set prefix = 'postgres_' if target.type == 'postgres' and name != var('raw_schema') else '' -%}
    {{ return(prefix ~ name ~ ('__next' if building else '')) }}
{%- endmacro %}

{% macro publish_schemas(results) %}
    {% if not execute or flags.WHICH not in ['build', 'run'] %}
        {{ return('') }}
    {% endif %}
    {% set failed = results | selectattr('status', 'in', ['error', 'fail', 'skipped', 'runtime error']) | list %}
    {% set built = results | selectattr('status', 'equalto', 'success') | list %}
    {% if failed or not built %}
        {{ log('step 2: warehouse NOT published (' ~ failed | length ~ ' failed); it keeps its previous contents', info=true) }}
        {{ return('') }}
    {% endif %}
    {% set names = ['staging', 'marts'] + ([var('raw_schema')] if target.type == 'duckdb' else []) %}
    {# Readers and the export can tell which day the published marts hold. #}
    {% set statements = ['begin', 'comment on schema "' ~ lakehouse_schema('marts', building=true)
        ~ '" is ' ~ lake_sql_string('run_date ' ~ lake_run_date())] %}
    {% for name in names %}
        {% set published = lakehouse_schema(name, building=false) %}
        {% do statements.append('drop schema if exists "' ~ published ~ '" cascade') %}
        {% do statements.append('alter schema "' ~ lakehouse_schema(name, building=true) ~ '" rename to "' ~ published ~ '"') %}
    {% endfor %}
    {% do statements.append('commit') %}
    {{ log('step 2: publishing schemas ' ~ names | join(', '), info=true) }}
    {% if target.type == 'duckdb' %}
        {{ return("call postgres_execute('warehouse', " ~ lake_sql_string(statements | join('; ')) ~ ")") }}
    {% else %}
        {{ return(statements | join(';\n')) }}
    {% endif %}
{% endmacro %}
