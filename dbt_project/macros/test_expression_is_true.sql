{#
    Generic test: `expression` holds on every row (nulls aside). Returns the rows where
    it does not, so a failure shows them. Runs where the model is (warehouse_tests.sql).
#}
{% test expression_is_true(model, expression, column_name=none) %}

    {% set failing %}
        select * from {{ lake_test_name(model) }} where not ({{ expression }})
    {% endset %}

    select * from {{ lake_test_query(model, failing) }}

{% endtest %}
