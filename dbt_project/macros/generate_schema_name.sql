{# Models land in the schema named by their folder (staging, marts), built under "<schema>__next". #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ lakehouse_schema((custom_schema_name or target.schema) | trim) }}
{%- endmacro %}
