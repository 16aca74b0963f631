{#
    Every history table holds versions as history.sql defines them: one version per key and
    day it starts, no two of a key overlapping, each boundary a day the table was built from
    (its comment's days), and no version equal to the one it follows, unless that one leaves
    empty a column that some of those days lack (a column compares only on days that have it). Run in the warehouse, on the tables the build wrote (or, for a plain `dbt test`,
    the published ones); a failure names the table, the key and the day.
#}
{{ config(enabled=target.type in ['duckdb', 'postgres']) }}

{% set checks = [] %}
{% if execute %}
    {% set schema = lakehouse_building(lakehouse_schema('history')) if lakehouse_writing() else lakehouse_schema('history') %}
    {% for table, built in lake_history_built(schema).items() if 'key' in built %}
        {% set relation = lake_quote(schema) ~ '.' ~ lake_quote(table) %}
        {% set key = [] %}
        {% for name in built['key'] %}{% do key.append(lake_quote(name)) %}{% endfor %}
        {% set days = [] %}
        {% for day in built['days'] %}{% do days.append("date '" ~ day ~ "'") %}{% endfor %}
        {% set check %}
            select {{ lake_sql_string(table) }} as history_table, concat_ws(', ', {{ key | join('::text, ') }}::text) as key,
                valid_from, case
                    when copies > 1 then 'two versions start on that day'
                    when next_from < coalesce(valid_to, 'infinity') then 'overlaps the next version'
                    else 'a boundary on a day the table was not built from' end as problem
            from (
                select *, count(*) over (partition by {{ key | join(', ') }}, valid_from) as copies,
                    lead(valid_from) over (partition by {{ key | join(', ') }} order by valid_from) as next_from
                from {{ relation }}
            ) as versions
            where copies > 1 or next_from < coalesce(valid_to, 'infinity')
                or not valid_from = any(array[{{ days | join(', ') }}]::date[])
                or not coalesce(valid_to = any(array[{{ days | join(', ') }}]::date[]), true)
            union all
            select {{ lake_sql_string(table) }}, concat_ws(', ', before.{{ key | join('::text, before.') }}::text),
                after.valid_from, 'equals the version before it'
            from {{ relation }} as before inner join {{ relation }} as after on before.valid_to = after.valid_from
                {%- for name in key %} and before.{{ name }} = after.{{ name }}{% endfor %}
            where (to_jsonb(before) - 'valid_from' - 'valid_to')::text = (to_jsonb(after) - 'valid_from' - 'valid_to')::text
                {%- for name in built.get('partial', []) %} and before.{{ lake_quote(name) }} is not null{% endfor %}
        {% endset %}
        {% do checks.append(check) %}
    {% endfor %}
{% endif %}

{% if checks %}
select * from {{ lakehouse_warehouse_query(checks | join(' union all ')) }}
{% else %}
select null::varchar as history_table, null::varchar as key, null::date as valid_from, null::varchar as problem
where false
{% endif %}
