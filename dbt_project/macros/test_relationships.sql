{#
    Generic test, in place of dbt's own: every non-null `column_name` of the model is a
    `field` of `to`. Returns each missing key with its number of rows. The model's keys
    are counted where the model is (warehouse_tests.sql), so only distinct keys reach the
    join; when `to` is in the warehouse too, the whole test runs there.
#}
{% test relationships(model, column_name, to, field) %}

    {% set children %}
        select {{ column_name }} as from_field, count(*) as n_rows
        from {{ lake_test_name(model) }}
        where {{ column_name }} is not null
        group by {{ column_name }}
    {% endset %}

    {% set missing %}
        select child.from_field, child.n_rows
        from {{ '(' ~ children ~ ') as child' if lake_in_warehouse(to) else 'child' }}
        left join {{ lake_test_name(to) }} as parent on child.from_field = parent.{{ field }}
        where parent.{{ field }} is null
    {% endset %}

    {% if lake_in_warehouse(model) and lake_in_warehouse(to) %}
        select * from {{ lake_test_query(model, missing) }}
    {% else %}
        with child as (select * from {{ lake_test_query(model, children) }})
        {{ missing }}
    {% endif %}

{% endtest %}
