{#
    Generic test: `expression` holds on every row (nulls aside). Returns the rows where
    it does not, so a failure shows them.
#}
{% test expression_is_true(model, expression, column_name=none) %}

    select *
    from {{ model }}
    where not ({{ expression }})

{% endtest %}
