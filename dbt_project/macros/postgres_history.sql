{#
    History on the postgres target. dbt-postgres cannot read the lake, so it keeps history the
    classic way, one loaded day at a time: the day raw holds (its schema's comment) applied to
    the versions "postgres_history" published before. A key whose values differ, on the columns
    raw and the day applied before both have, or that raw lacks, ends its current version on
    that day; a key of raw without a current version starts one; a column the day before lacked
    fills the current versions from raw. Building the day it applied last again undoes that day
    first. Its tables, columns, types and keys are history's (dbt-duckdb's, published with raw),
    enum and composite columns as text and domain columns as their base types, so that dropping
    history never reaches them. When every day the lake keeps was loaded in order, and built here after each
    load, the versions are history's: the differential test checks it. An earlier day is refused
    in one line; days of history it never applied are named in the log.
#}
{% macro load_postgres_history() %}
    {% set schema = lakehouse_building(lakehouse_schema('history')) %}
    {% set published = lakehouse_schema('history') %}
    {% set comment = run_query("select obj_description(to_regnamespace(" ~ lake_sql_string(lake_quote(var('raw_schema')))
        ~ "), 'pg_namespace')").columns[0].values()[0] or '' %}
    {% if not comment.startswith('run_date ') %}
        {{ exceptions.raise_compiler_error('the postgres target builds history from the day ' ~ var('raw_schema')
            ~ ' holds, and no load published one: run make load first; nothing published') }}
    {% endif %}
    {% set day = comment[9:] %}
    {% set applied = {} if flags.FULL_REFRESH else lake_history_built(published) %}
    {% set statements, tables = [], [] %}
    {% set in_raw = run_query("select relname::text from pg_class where relnamespace = to_regnamespace("
        ~ lake_sql_string(lake_quote(var('raw_schema'))) ~ ") and relkind = 'r'").columns[0].values() %}
    {% for table, built in lake_history_built('history').items() if 'key' in built and table not in in_raw and table in applied %}
        {# No longer extracted: history keeps it, and so does this target, as it was. #}
        {% set relation = lake_quote(schema) ~ '.' ~ lake_quote(table) %}
        {% do statements.append('create table ' ~ relation ~ ' as table ' ~ lake_quote(published) ~ '.' ~ lake_quote(table)) %}
        {% do statements.append('comment on table ' ~ relation ~ ' is ' ~ lake_sql_string(tojson(applied[table]))) %}
    {% endfor %}
    {% for table, built in lake_history_built('history').items() if 'key' in built and table in in_raw %}
        {% set before = applied.get(table, {}) %}
        {% set days = before.get('days', {}) %}
        {% set last = days | max if days else none %}
        {% if last and day < last %}
            {{ exceptions.raise_compiler_error(published ~ '.' ~ table ~ ': the postgres target applies days in order, and '
                ~ var('raw_schema') ~ ' holds ' ~ day ~ ', before ' ~ last ~ ', the last day it applied; nothing published '
                ~ '(rebuild it: dbt build --target postgres --full-refresh after loading its first day, then each later day in turn)') }}
        {% endif %}
        {% set unseen = built['days'] | reject('in', days) | select('>', last or '') | select('<', day) | list %}
        {% if unseen %}
            {{ log('step 2 on Postgres: ' ~ published ~ '.' ~ table ~ ' never applied ' ~ unseen | join(', ')
                ~ ', which history has: their versions differ there', info=true) }}
        {% endif %}
        {% set earlier = before.get('columns') if last and last != day else before.get('before') %}
        {% set step = postgres_history_day(schema, published, table, built['key'], day, earlier if days else none) %}
        {% do statements.extend(step['statements']) %}
        {% set recorded = {} %}
        {% for applied_day in days if applied_day != day %}{% do recorded.update({applied_day: days[applied_day]}) %}{% endfor %}
        {% do recorded.update({day: 'raw'}) %}
        {% do statements.append('comment on table ' ~ lake_quote(schema) ~ '.' ~ lake_quote(table) ~ ' is '
            ~ lake_sql_string(tojson({'days': recorded, 'key': built['key'], 'columns': step['columns'], 'before': earlier}))) %}
        {% do tables.append(table) %}
    {% endfor %}
    {% do run_query(statements | join(';\n')) if statements %}
    {{ log('step 2 on Postgres: history of ' ~ tables | length ~ ' tables, ' ~ day ~ ' applied', info=true) }}
{% endmacro %}

{#
    What builds `table` in the schema `building` from raw's rows of `day` and the versions
    published in the schema `published`, with the columns of history.<table>: its `statements`,
    and the `columns` raw has, which the next day compares. `earlier`: the columns of the day
    applied before (none: from nothing).
#}
{% macro postgres_history_day(building, published, table, key, day, earlier) %}
    {% set next, previous = lake_quote(building) ~ '.' ~ lake_quote(table), lake_quote(published) ~ '.' ~ lake_quote(table) %}
    {% set raw = lake_quote(var('raw_schema')) ~ '.' ~ lake_quote(table) %}
    {% set catalog %}
        select a.attname::text, format_type(coalesce(nullif(t.typbasetype, 0), a.atttypid),
                case when t.typbasetype <> 0 then t.typtypmod else a.atttypmod end),
            t.typtype in ('e', 'c') or exists (select from pg_type as e where e.oid = t.typelem and e.typtype in ('e', 'c'))
                as own,
            exists (select from pg_opclass as o inner join pg_am as m on m.oid = o.opcmethod
                inner join pg_type as b on b.oid = coalesce(nullif(t.typbasetype, 0), a.atttypid)
                where m.amname = 'btree' and o.opcdefault and o.opcintype = coalesce(nullif(b.typelem, 0), b.oid)
                    and (b.typcategory = 'A' or b.typelem = 0)) as comparable,
            exists (select from pg_attribute as r where r.attrelid = to_regclass({{ lake_sql_string(raw) }})
                and r.attname = a.attname and r.attnum > 0 and not r.attisdropped) as in_raw,
            exists (select from pg_attribute as p where p.attrelid = to_regclass({{ lake_sql_string(previous) }})
                and p.attname = a.attname and p.attnum > 0 and not p.attisdropped) as kept
        from pg_attribute as a inner join pg_type as t on t.oid = a.atttypid
        where a.attrelid = to_regclass({{ lake_sql_string('history.' ~ lake_quote(table)) }}) and a.attnum > 0
            and not a.attisdropped and a.attname not in ('valid_from', 'valid_to')
        order by a.attnum
    {% endset %}
    {% set definitions, kept, shared, compared, matched, filled, names = [], [], [], [], [], [], [] %}
    {% for name, type, own, comparable, in_raw, was_kept in run_query(catalog).rows %}
        {% set type = 'text' if own else type %}
        {% set column = lake_quote(name) %}
        {% do definitions.append(column ~ ' ' ~ type) %}
        {% do kept.append((column, column ~ '::' ~ type)) if was_kept and earlier is not none %}
        {% if in_raw %}
            {% do names.append(name) %}
            {% set value = 'r.' ~ column ~ '::' ~ type %}
            {% do shared.append((column, value)) %}
            {% if name in key %}
                {% do matched.append(value ~ ' = h.' ~ column) %}
            {% elif earlier is not none and name in earlier %}
                {% do compared.append(value ~ ' is not distinct from h.' ~ column if comparable
                    else value ~ '::text is not distinct from h.' ~ column ~ '::text') %}
            {% elif earlier is not none %}
                {% do filled.append(column ~ ' = ' ~ value) %}
            {% endif %}
        {% endif %}
    {% endfor %}
    {% set on = "date '" ~ day ~ "'" %}
    {% set statements = ['create table ' ~ next ~ ' (' ~ definitions | join(', ') ~ ', valid_from date not null, valid_to date)'] %}
    {% if earlier is not none %}
        {# A day applied again is undone first: the versions it started go, those it ended are current again. #}
        {% do statements.append('insert into ' ~ next ~ ' (' ~ (kept | map(attribute=0) | list + ['valid_from', 'valid_to']) | join(', ')
            ~ ') select ' ~ (kept | map(attribute=1) | list + ['valid_from', 'case when valid_to = ' ~ on ~ ' then null else valid_to end'])
            | join(', ') ~ ' from ' ~ previous ~ ' where valid_from < ' ~ on) %}
    {% endif %}
    {% do statements.append('update ' ~ next ~ ' as h set valid_to = ' ~ on ~ ' where h.valid_to is null '
        ~ 'and not exists (select from ' ~ raw ~ ' as r where ' ~ (matched + compared) | join(' and ') ~ ')') %}
    {% if filled %}
        {% do statements.append('update ' ~ next ~ ' as h set ' ~ filled | join(', ') ~ ' from ' ~ raw ~ ' as r '
            ~ 'where h.valid_to is null and ' ~ matched | join(' and ')) %}
    {% endif %}
    {% do statements.append('insert into ' ~ next ~ ' (' ~ shared | map(attribute=0) | join(', ') ~ ', valid_from) select '
        ~ shared | map(attribute=1) | join(', ') ~ ', ' ~ on ~ ' from ' ~ raw ~ ' as r '
        ~ 'where not exists (select from ' ~ next ~ ' as h where h.valid_to is null and ' ~ matched | join(' and ') ~ ')') %}
    {{ return({'statements': statements, 'columns': names}) }}
{% endmacro %}
