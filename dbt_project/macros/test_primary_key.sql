{#
    Generic test: the key (`column_name`, or `columns` for a composite key) is unique
    and never null. A warehouse table whose primary key constraint is exactly this key
    already guarantees it (the constraint is added after the table is filled, so
    duplicates or nulls fail the build): the test then checks that the constraint is
    there instead of reading every row again. Otherwise it reads the rows in one pass, where
    the model is (warehouse_tests.sql), and returns each failing key with its number of
    rows, so a failure names the keys at fault.
#}
{% test primary_key(model, column_name=none, columns=none) %}

    {% set key = columns or [column_name] %}

    {% if lake_primary_key_enforced(model, key) %}

    select {{ lake_sql_string(key | join(', ')) }} as enforced_primary_key
    where false

    {% else %}

    {% set failing %}
        select {{ key | join(', ') }}, count(*) as n_rows
        from {{ lake_test_name(model) }}
        group by {{ key | join(', ') }}
        having count(*) > 1
        {%- for column in key %} or {{ column }} is null{% endfor %}
    {% endset %}

    select * from {{ lake_test_query(model, failing) }}

    {% endif %}

{% endtest %}

{# Whether `relation` is a warehouse table whose primary key constraint is exactly `key`. #}
{% macro lake_primary_key_enforced(relation, key) %}
    {% if not execute or target.type == 'spark' or relation.database != lakehouse_database() %}
        {{ return(false) }}
    {% endif %}
    {% set catalog %}
        select a.attname::text
        from pg_constraint as k
        inner join pg_class as c on k.conrelid = c.oid
        inner join pg_namespace as n on c.relnamespace = n.oid
        inner join pg_attribute as a on a.attrelid = c.oid and a.attnum = any(k.conkey)
        where k.contype = 'p' and n.nspname = {{ lake_sql_string(relation.schema) }}
            and c.relname = {{ lake_sql_string(relation.identifier) }}
    {% endset %}
    {% set found = run_query("select * from " ~ lakehouse_warehouse_query(catalog)).columns[0].values() | list %}
    {{ return(found | sort == key | sort) }}
{% endmacro %}
