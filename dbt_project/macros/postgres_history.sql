{#
    History on the postgres target. dbt-postgres cannot read the lake, so it keeps history the
    classic way, one loaded day at a time: the day raw holds (its schema's comment) applied to
    the versions "postgres_history" published before. A key whose values differ on the columns
    raw has, or that raw lacks, ends its current version on that day; a key of raw without a
    current version starts one. Building the day it applied last again undoes that day first.
    Its tables, columns, types and keys are history's (dbt-duckdb's, published with raw), enum
    and domain columns as their base types, so that dropping history never reaches them. When
    every day the lake keeps was loaded in order, and built here after each load, the versions
    are history's: the differential test checks it. An earlier day is refused in one line.
#}
{% macro load_postgres_history() %}
    {% set schema = lakehouse_building(lakehouse_schema('history')) %}
    {% set published = lakehouse_schema('history') %}
    {% set comment = run_query("select obj_description(to_regnamespace(" ~ lake_sql_string(var('raw_schema'))
        ~ "), 'pg_namespace')").columns[0].values()[0] or '' %}
    {% if not comment.startswith('run_date ') %}
        {{ log('step 2 on Postgres: no history, no day loaded into ' ~ var('raw_schema') ~ ' yet', info=true) }}
        {{ return('') }}
    {% endif %}
    {% set day = comment[9:] %}
    {% set applied = {} if flags.FULL_REFRESH else lake_history_built(published) %}
    {% set statements, tables = [], [] %}
    {% for table, built in lake_history_built('history').items() if 'key' in built %}
        {% set days = applied.get(table, {}).get('days', {}) %}
        {% set last = days | max if days else none %}
        {% if last and day < last %}
            {{ exceptions.raise_compiler_error(published ~ '.' ~ table ~ ': the postgres target applies days in order, and '
                ~ var('raw_schema') ~ ' holds ' ~ day ~ ', before ' ~ last ~ ', the last day it applied; nothing published '
                ~ '(rebuild it: dbt build --target postgres --full-refresh after loading its first day, then each later day in turn)') }}
        {% endif %}
        {% do statements.extend(postgres_history_day(schema, published, table, built['key'], day, days | length > 0)) %}
        {% set recorded = {} %}
        {% for earlier in days if earlier != day %}{% do recorded.update({earlier: days[earlier]}) %}{% endfor %}
        {% do recorded.update({day: 'raw'}) %}
        {% do statements.append('comment on table ' ~ lake_quote(schema) ~ '.' ~ lake_quote(table) ~ ' is '
            ~ lake_sql_string(tojson({'days': recorded, 'key': built['key']}))) %}
        {% do tables.append(table) %}
    {% endfor %}
    {% do run_query(statements | join(';\n')) if statements %}
    {{ log('step 2 on Postgres: history of ' ~ tables | length ~ ' tables, ' ~ day ~ ' applied', info=true) }}
{% endmacro %}

{#
    The statements that build `table` in the schema `building` from raw's rows of `day` and,
    when it `continues`, the versions published in the schema `published`, with the columns of
    history.<table>.
#}
{% macro postgres_history_day(building, published, table, key, day, continues) %}
    {% set next, previous = lake_quote(building) ~ '.' ~ lake_quote(table), lake_quote(published) ~ '.' ~ lake_quote(table) %}
    {% set catalog %}
        select a.attname::text, format_type(coalesce(nullif(t.typbasetype, 0), a.atttypid),
            case when t.typbasetype <> 0 then t.typtypmod else a.atttypmod end), t.typtype::text
        from pg_attribute as a inner join pg_type as t on t.oid = a.atttypid
        where a.attrelid = to_regclass({{ lake_sql_string('history.' ~ lake_quote(table)) }}) and a.attnum > 0
            and not a.attisdropped and a.attname not in ('valid_from', 'valid_to')
        order by a.attnum
    {% endset %}
    {% set columns = run_query(catalog).rows %}
    {% set raw = lake_quote(var('raw_schema')) ~ '.' ~ lake_quote(table) %}
    {% set raw_has = postgres_history_columns(raw) %}
    {% set had = postgres_history_columns(previous) if continues else [] %}
    {% set definitions, kept, shared, compared, matched = [], [], [], [], [] %}
    {% for name, type, kind in columns %}
        {% set type = 'text' if kind == 'e' else type %}
        {% set column = lake_quote(name) %}
        {% do definitions.append(column ~ ' ' ~ type) %}
        {% do kept.append(column) if name in had %}
        {% if name in raw_has %}
            {% do shared.append((column, 'r.' ~ column ~ '::' ~ type)) %}
            {% do (matched if name in key else compared).append('r.' ~ column ~ '::' ~ type
                ~ (' = ' if name in key else ' is not distinct from ') ~ 'h.' ~ column) %}
        {% endif %}
    {% endfor %}
    {% set open_key = [] %}
    {% for name in key %}{% do open_key.append('h.' ~ lake_quote(name) ~ ' = r.' ~ lake_quote(name)) %}{% endfor %}
    {% set statements = ['create table ' ~ next ~ ' (' ~ definitions | join(', ') ~ ', valid_from date not null, valid_to date)'] %}
    {% if continues %}
        {# A day applied again is undone first: the versions it started go, those it ended are current again. #}
        {% do statements.append('insert into ' ~ next ~ ' (' ~ (kept + ['valid_from', 'valid_to']) | join(', ') ~ ') select '
            ~ (kept + ['valid_from', 'case when valid_to = date ' ~ lake_sql_string(day) ~ ' then null else valid_to end'])
            | join(', ') ~ ' from ' ~ previous ~ ' where valid_from < date ' ~ lake_sql_string(day)) %}
    {% endif %}
    {% do statements.append('update ' ~ next ~ ' as h set valid_to = date ' ~ lake_sql_string(day) ~ ' where h.valid_to is null '
        ~ 'and not exists (select from ' ~ raw ~ ' as r where ' ~ (matched + compared) | join(' and ') ~ ')') %}
    {% do statements.append('insert into ' ~ next ~ ' (' ~ shared | map(attribute=0) | join(', ') ~ ', valid_from) select '
        ~ shared | map(attribute=1) | join(', ') ~ ', date ' ~ lake_sql_string(day) ~ ' from ' ~ raw ~ ' as r '
        ~ 'where not exists (select from ' ~ next ~ ' as h where h.valid_to is null and ' ~ open_key | join(' and ') ~ ')') %}
    {{ return(statements) }}
{% endmacro %}

{# The names of the columns of `relation`. #}
{% macro postgres_history_columns(relation) %}
    {{ return(run_query("select attname::text from pg_attribute where attrelid = to_regclass(" ~ lake_sql_string(relation)
        ~ ") and attnum > 0 and not attisdropped").columns[0].values()) }}
{% endmacro %}
