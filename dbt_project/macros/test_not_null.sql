{#
    Overrides dbt's not_null: the stored failures keep the tested column only, as they
    do without store_failures. dbt's own version selects every column when it stores
    failures, and the Postgres scanner cannot push `is null` down, so on a mart in the
    warehouse it would read every column of every row.
#}
{% test not_null(model, column_name) %}

    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} is null

{% endtest %}
