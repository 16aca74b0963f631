{#
    Models land in the schema named by their folder (staging, marts), under its published
    name whatever the command: builds write the "__next" twins at run time
    (table_materialization.sql, ref.sql, publish.sql).
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ lakehouse_schema((custom_schema_name or target.schema) | trim) }}
{%- endmacro %}
