{#
    `source`, on Spark: the day's Parquet file of the table in the lake, read in place
    (its external_location, as dbt-duckdb reads it), so both engines read the same
    partitions and no table is registered per day. Other targets keep dbt's own.
#}
{% macro source(source_name, table_name) %}
    {% set relation = builtins.source(source_name, table_name) %}
    {% if target.type == 'spark' and execute %}
        {% set node = graph.sources['source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name] %}
        {{ return('parquet.`' ~ lake_path(node.meta['external_location'] | replace('{name}', node.identifier)) ~ '`') }}
    {% endif %}
    {{ return(relation) }}
{% endmacro %}
