{#
    Every history table holds versions as history.sql defines them, segment by segment (a
    segment: the days of one key, from its first day to the next key's): one version per key and
    day it starts, no two of a key overlapping, each boundary a day the table was built from (its
    comment's days), and no version equal to the one it follows in its segment, compared by the
    text of each value, which differs exactly when the build finds a change (history.sql), unless that one leaves empty a column that
    some of those days lack (a column compares only on days that have it). Run in the warehouse,
    on the tables the build wrote (or, for a plain `dbt test`, the published ones); a failure
    names the table, the key and the day. Should return no rows.
#}
{{ config(enabled=target.type in ['duckdb', 'postgres']) }}

{% set checks = [] %}
{% if execute %}
    {% set schema = lakehouse_building(lakehouse_schema('history')) if lakehouse_writing() else lakehouse_schema('history') %}
    {% for table, built in lake_history_built(schema).items() if 'key' in built %}
        {% set relation = lake_quote(schema) ~ '.' ~ lake_quote(table) %}
        {% set days = [] %}
        {% for day in built['days'] %}{% do days.append("date '" ~ day ~ "'") %}{% endfor %}
        {% set segments = built.get('segments') or [[built['days'] | min, built['key']]] %}
        {% for first, key_names in segments %}
            {% set until = segments[loop.index][0] if not loop.last else none %}
            {% set bounds = ([] if loop.first else ["{0}valid_from >= date '" ~ first ~ "'"])
                + (["{0}valid_from < date '" ~ until ~ "'"] if until else []) %}
            {% set within = bounds | join(' and ') or 'true' %}
            {% set key = [] %}
            {% for name in key_names %}{% do key.append(lake_quote(name)) %}{% endfor %}
            {% set same = [] %}
            {% for name in built['names'] if name not in key_names %}
                {% do same.append('before.' ~ lake_quote(name) ~ '::text is not distinct from after.' ~ lake_quote(name) ~ '::text') %}
            {% endfor %}
            {% for name in built.get('partial', []) %}{% do same.append('before.' ~ lake_quote(name) ~ ' is not null') %}{% endfor %}
            {% set check %}
                select {{ lake_sql_string(table) }} as history_table, concat_ws(', ', {{ key | join('::text, ') }}::text) as key,
                    valid_from, case
                        when copies > 1 then 'two versions start on that day'
                        when next_from < coalesce(valid_to, 'infinity') then 'overlaps the next version'
                        else 'a boundary on a day the table was not built from' end as problem
                from (
                    select *, count(*) over (partition by {{ key | join(', ') }}, valid_from) as copies,
                        lead(valid_from) over (partition by {{ key | join(', ') }} order by valid_from) as next_from
                    from {{ relation }} where {{ within | replace('{0}', '') }}
                ) as versions
                where copies > 1 or next_from < coalesce(valid_to, 'infinity')
                    or not valid_from = any(array[{{ days | join(', ') }}]::date[])
                    or not coalesce(valid_to = any(array[{{ days | join(', ') }}]::date[]), true)
                union all
                select {{ lake_sql_string(table) }}, concat_ws(', ', before.{{ key | join('::text, before.') }}::text),
                    after.valid_from, 'equals the version before it'
                from {{ relation }} as before inner join {{ relation }} as after on before.valid_to = after.valid_from
                    {%- for name in key %} and before.{{ name }} = after.{{ name }}{% endfor %}
                where {{ within | replace('{0}', 'after.') }} and {{ within | replace('{0}', 'before.') }}
                    {%- for condition in same %} and {{ condition }}{% endfor %}
            {% endset %}
            {% do checks.append(check) %}
        {% endfor %}
    {% endfor %}
{% endif %}

{% if checks %}
select * from {{ lakehouse_warehouse_query(checks | join(' union all ')) }}
{% else %}
select null::varchar as history_table, null::varchar as key, null::date as valid_from, null::varchar as problem
where false
{% endif %}
