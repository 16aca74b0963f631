{#
    The project's `table` materialization (its tables are the marts): the table is
    written into the "__next" twin of its published relation (see publish.sql), which
    the build empties first (on-run-start) and publishes last. The model's `this` stays
    the published name; hooks that write reach the twin through lakehouse_building(this).
    It keeps the name `table`, so dbt enforces the marts' contracts and constraints.
    With marts built by Spark, the rows come from Spark's partition (spark_marts.sql).
#}
{% macro lakehouse_table() %}
    {% set target_relation = lakehouse_building(this).incorporate(type='table') %}
    {% set spark_mart = lakehouse_spark_mart() %}
    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {% call statement('main') %}
        {{ get_create_table_as_sql(False, target_relation,
            'select * from ' ~ lake_read_partition(spark_mart) if spark_mart else sql) }}
    {% endcall %}
    {% if spark_mart %}
        {% do lake_reconcile([(lake_quote(target_relation.schema) ~ '.' ~ lake_quote(target_relation.identifier), spark_mart)]) %}
    {% endif %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do persist_docs(target_relation, model) %}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{% endmacro %}

{% materialization table, adapter='duckdb' %}
    {{ return(lakehouse_table()) }}
{% endmaterialization %}

{% materialization table, adapter='postgres' %}
    {{ return(lakehouse_table()) }}
{% endmaterialization %}
