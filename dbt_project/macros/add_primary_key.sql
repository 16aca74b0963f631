{#
    Post-hook of the marts: their primary key, added once the table is filled. One
    index build costs less than keeping the index up to date row by row during the
    insert (0.9 s against 2.2 s for 2.1 M order lines).
#}
{% macro add_primary_key(columns) %}
    {% if target.type == 'spark' %}
        {{ return('') }}  {# Spark's tables have no keys: the primary_key test checks it #}
    {% endif %}
    {% set table = lakehouse_building(this) %}
    {% set ddl = 'alter table ' ~ lake_quote(table.schema) ~ '.' ~ lake_quote(table.identifier)
        ~ ' add primary key (' ~ columns | join(', ') ~ ')' %}
    {{ return(lakehouse_warehouse_sql([ddl])) }}
{% endmacro %}
