{#
    Models land in the schema named by their folder (staging, marts); the published ones
    are built under "<schema>__next" (see lakehouse_schema); stored test failures go
    straight to theirs.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ lakehouse_schema((custom_schema_name or target.schema) | trim) }}
{%- endmacro %}
