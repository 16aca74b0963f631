{#
    Generic test: no two rows share the same values in `combination_of_columns`
    (a composite key). Returns the duplicated key values, so a failure names them.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

    {% set columns = combination_of_columns | join(', ') %}

    select
        {{ columns }},
        count(*) as n_rows
    from {{ model }}
    group by {{ columns }}
    having count(*) > 1

{% endtest %}
