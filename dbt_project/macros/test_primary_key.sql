{#
    Generic test: the key (`column_name`, or `columns` for a composite key) is unique
    and never null, read in one pass. Returns each failing key with its number of
    rows, so a failure names the keys at fault.
#}
{% test primary_key(model, column_name=none, columns=none) %}

    {% set key = columns or [column_name] %}

    select
        {{ key | join(', ') }},
        count(*) as n_rows
    from {{ model }}
    group by {{ key | join(', ') }}
    having
        count(*) > 1
        {% for column in key %}
            or {{ column }} is null
        {% endfor %}

{% endtest %}
