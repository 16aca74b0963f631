{#
    `source`: the run date's partition file of the table in the lake, read in place. The
    day is chosen when dbt runs (lake_run_date), so the parsed project serves every day:
    dbt-duckdb reads the file as an external relation, Spark as `parquet.`<path>``. At
    parse time (no `execute`) it is dbt's own, which records the dependency.
#}
{% macro source(source_name, table_name) %}
    {% set relation = builtins.source(source_name, table_name) %}
    {% if execute and target.type in ['duckdb', 'spark'] %}
        {% set node = graph.sources['source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name] %}
        {% set path = lake_path(lake_source_key(node)) %}
        {% if target.type == 'spark' %}
            {{ return('parquet.`' ~ path ~ '`') }}
        {% endif %}
        {{ return(relation.incorporate(external=lake_sql_string(path))) }}
    {% endif %}
    {{ return(relation) }}
{% endmacro %}
