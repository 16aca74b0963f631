{#
    Generic test, in place of dbt's own: every non-null `column_name` of the model is a
    `field` of `to`. Returns each missing key with its number of rows; the failures are
    the rows, as in dbt's own test. When the model and `to` are read by the same engine,
    the whole test runs there (warehouse_tests.sql); otherwise the model's keys are
    counted where the model is, so only distinct keys reach the join.
#}
{% test relationships(model, column_name, to, field) %}

    {{ config(fail_calc='coalesce(sum(n_rows), 0)') }}

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
