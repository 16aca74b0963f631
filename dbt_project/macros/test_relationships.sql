{#
    Generic test, in place of dbt's own: every non-null `column_name` of the model is a
    `field` of `to`. Returns each missing key with its number of rows. When the model
    and `to` are read by the same engine, the whole test runs there (warehouse_tests.sql);
    when the model is in the warehouse and `to` is not, the model's keys are counted in
    the warehouse first, so only distinct keys cross to DuckDB.
#}
{% test relationships(model, column_name, to, field) %}

    {% if lake_in_warehouse(model) == lake_in_warehouse(to) %}

        {% set missing %}
            select child.{{ column_name }} as from_field, count(*) as n_rows
            from {{ lake_test_name(model) }} as child
            where child.{{ column_name }} is not null and not exists (
                select 1 from {{ lake_test_name(to) }} as parent where parent.{{ field }} = child.{{ column_name }}
            )
            group by child.{{ column_name }}
        {% endset %}

        select * from {{ lake_test_query(model, missing) }}

    {% else %}

        {% set children %}
            select {{ column_name }} as from_field, count(*) as n_rows
            from {{ lake_test_name(model) }}
            where {{ column_name }} is not null
            group by {{ column_name }}
        {% endset %}

        with child as (select * from {{ lake_test_query(model, children) }})

        select child.from_field, child.n_rows
        from child
        left join {{ to }} as parent on child.from_field = parent.{{ field }}
        where parent.{{ field }} is null

    {% endif %}

{% endtest %}
