{#
    The project's `test` materialization: a test counts its failing rows first and stores
    them (store_failures: the warehouse's test_failures schema) only when there are any.
    A passing test writes nothing. Storing every test's empty result cost a table created
    in Postgres per test, through DuckDB, on every build: most of a day's test time. A
    table left by an earlier failure of a test that now passes is dropped, so
    test_failures holds the failing rows of the tests that failed in the last run.
#}
{% macro lakehouse_test() %}
    {% set sql_with_limit = get_limit_subquery_sql(sql, config.get('limit')) %}
    {% call statement('main', fetch_result=True) -%}
        {{ get_test_sql(sql_with_limit, config.get('fail_calc'), config.get('warn_if'), config.get('error_if'), limit=none) }}
    {%- endcall %}
    {% set relations = [] %}
    {% if should_store_failures() %}
        {% set stored = adapter.get_relation(database=database, schema=schema, identifier=model['alias']) %}
        {% if stored %}
            {% do adapter.drop_relation(stored) %}
        {% endif %}
        {% if load_result('main')['data'][0][0] %}
            {% set failures = api.Relation.create(identifier=model['alias'], schema=schema, database=database, type='table') %}
            {% call statement(auto_begin=True) %}
                {{ get_create_sql(failures, sql_with_limit) }}
            {% endcall %}
            {{ adapter.commit() }}
            {% do relations.append(failures) %}
        {% endif %}
    {% endif %}
    {{ return({'relations': relations}) }}
{% endmacro %}

{% materialization test, adapter='duckdb' %}
    {{ return(lakehouse_test()) }}
{% endmaterialization %}

{% materialization test, adapter='postgres' %}
    {{ return(lakehouse_test()) }}
{% endmaterialization %}
