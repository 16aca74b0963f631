{#
    History: SCD2 versions of every keyed table, a pure function of the lake.

    A table's days are those whose partition the lake holds (its manifest, and its file as the
    manifest says), and those on which step 1 read the source's whole catalog and the table was
    not in it (absent: every key ends). Days whose partition has no primary key are not observed.
    The keyed days fall into segments of one key each: a change of key is a new identity, whose
    versions start on its first day, the previous key's all ending then.

    Within a segment, a key's version is a maximal run of consecutive days on which the key is
    there with equal values; `valid_from` is its first day, `valid_to` (exclusive) the next day,
    on which the key is gone or its values differ, or NULL. A missing day changes nothing; a key
    absent on a day ends its version, and one that comes back starts a new one. Values compare
    NULL-safe and as typed, floating-point values by their text (so -0 differs from 0; every NaN
    is alike). For every type the lake carries, two values differ so exactly when PostgreSQL's
    text of them differs, which is what the audit (tests/history_versions.sql) compares: the two
    never disagree on a change. A column a day lacks is not compared on
    that day: each column compares with the key's last earlier day in the same run of presence
    that has the column, so adding or dropping a column makes no version, and a value changed
    across days without the column does. A column retyped between days compares under the wider
    type when one holds every value of the other exactly (lake_history_widened), else as text.
#}

{#
    The rows of every present day, one select per day: `idx` (the day's position among the
    present days) and, per column of `columns` by position, `v<i>` (its value, NULL on a
    day without it) and `h<i>` (whether the day has it). `days`: dicts with `relation` (a
    table expression of the day's rows, none on a day the table was absent from the source)
    and `columns` (the names it has), in day order.
#}
{% macro lake_history_snapshots(days, columns) -%}
    {%- for day in days %}
    select {{ loop.index0 }} as idx
        {%- for column in columns %}, {{ lake_quote(column) if column in day['columns'] else 'null' }} as v{{ loop.index0 }}, {{ column in day['columns'] }} as h{{ loop.index0 }}
        {%- endfor %}
    from {{ day['relation'] or '(select 1 where false)' }}
    {{- ' union all' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{# The snapshots' columns (lake_history_snapshots) that hold `key`, as a list: "v0, v3". #}
{% macro lake_history_key(key, columns) -%}
    {%- for name in key %}v{{ columns.index(name) }}{{ ', ' if not loop.last }}{% endfor -%}
{%- endmacro %}

{#
    Keys found twice on one day in `snapshots` (a relation of lake_history_snapshots): day,
    key and count, at most `limit`, on every day but the one `except_day` names.
#}
{% macro lake_history_duplicates(snapshots, days, key, columns, except_day=none, limit=5) -%}
    {%- set by_key = lake_history_key(key, columns) -%}
    select [{% for day in days %}'{{ day['day'] }}'{{ ', ' if not loop.last }}{% endfor %}][idx + 1] as day,
        {% for name in key %}v{{ columns.index(name) }}::varchar{{ ', ' if not loop.last }}{% endfor %}, count(*) as copies
    from {{ snapshots }}
    {%- set dates = days | map(attribute='day') | list %}
    {%- if except_day in dates %}
    where idx != {{ dates.index(except_day) }}
    {%- endif %}
    group by idx, {{ by_key }}
    having count(*) > 1
    order by idx, {{ by_key }}
    limit {{ limit }}
{%- endmacro %}

{#
    The versions of `snapshots` (a relation of lake_history_snapshots over `days`): every
    column of `columns` by name, then valid_from and valid_to. `key`: the columns that
    identify a row. `changed_only`, when the first day is not the history's first: without the
    versions that span every day, which the history published before has (lake_history_merge).
    `textual`: the positions of the columns compared by their text (floating-point values).
    `ends`: the day the segment ends (the next key's first day): versions still current on its
    last day end then.
#}
{% macro lake_history_versions(snapshots, days, key, columns, changed_only=false, textual=[], ends=none) -%}
    {%- set by_key = lake_history_key(key, columns) -%}
    {%- set others = [] -%}
    {%- for column in columns %}{% if column not in key %}{% do others.append(loop.index0) %}{% endif %}{% endfor -%}
    with history_days (idx, day) as (
        values {% for day in days %}({{ loop.index0 }}, date '{{ day['day'] }}'){{ ', ' if not loop.last }}{% endfor %}
        {%- if ends %}, ({{ days | length }}, date '{{ ends }}'){% endif %}
    ),
    runs as (
        -- a run of presence: consecutive present days with the key
        select *, idx - row_number() over (partition by {{ by_key }} order by idx) as run
        from {{ snapshots }}
    ),
    marked as (
        select *,
            row_number() over (partition by {{ by_key }}, run order by idx) = 1
            {%- for i in others %}
            {#- by text, every NaN alike: PostgreSQL prints a negative NaN as NaN too -#}
            {%- set value = ("replace(v" ~ i ~ "::varchar, '-nan', 'nan')") if i in textual else 'v' ~ i %}
            or (h{{ i }} and coalesce((last_value(case when h{{ i }} then {'v': {{ value }}} end ignore nulls) over earlier).v is distinct from {{ value }}
                and last_value(case when h{{ i }} then {'v': {{ value }}} end ignore nulls) over earlier is not null, false))
            {%- endfor %} as starts
        from runs
        window earlier as (partition by {{ by_key }}, run order by idx rows between unbounded preceding and 1 preceding)
    ),
    numbered as (
        select *, sum(starts::integer) over (partition by {{ by_key }} order by idx rows unbounded preceding) as version
        from marked
    ),
    versions as (
        select {{ by_key }}, version, min(idx) as first_idx, max(idx) as last_idx
            {%- for i in others %}, last(v{{ i }} order by idx) filter (where h{{ i }}) as v{{ i }}
            {%- endfor %}
        from numbered
        group by {{ by_key }}, version
    )
    select {% for column in columns %}v{{ loop.index0 }} as {{ lake_quote(column) }}, {% endfor -%}
        valid_from.day as valid_from, valid_to.day as valid_to
    from versions
    inner join history_days as valid_from on valid_from.idx = versions.first_idx
    left join history_days as valid_to on valid_to.idx = versions.last_idx + 1
    {%- if changed_only %}
    where not (versions.first_idx = 0 and versions.last_idx = {{ days | length - 1 }})
    {%- endif %}
{%- endmacro %}

{#
    On-run-start of build and run, after the raw copy: "history__next" gets the versions of
    every table the lake holds keyed days of, over all its days, published with raw and the
    marts. A table whose history cannot be built this run (a partition that fails verification,
    a day with duplicate keys) keeps its published history, named in the log and in its table
    comment (`refused`), which the CLI reports; so does one the lake no longer holds. As for
    raw, the DDL of all tables goes in one round trip, and the type changes in another. The
    postgres target keeps its own (postgres_history.sql).
#}
{% macro load_history_tables() %}
    {% if target.type == 'postgres' and lakehouse_writing() %}
        {% do load_postgres_history() %}
    {% elif target.type == 'duckdb' and lakehouse_writing() %}
        {% set schema = lakehouse_building('history') %}
        {% set ledger = lake_ledger() %}
        {% set today = {} %}
        {% for manifest in ledger['extract_postgres']['details']['partitions'] + ledger['extract_csv']['details']['partitions'] %}
            {% do today.update({manifest['table']: manifest}) %}
        {% endfor %}
        {% set unkeyed = today.values() | rejectattr('primary_key') | map(attribute='table') | list %}
        {% if unkeyed %}
            {{ log('step 2: no history for ' ~ unkeyed | join(', ') ~ ': no primary key', info=true) }}
        {% endif %}
        {% set built = lake_history_built() %}
        {% set lake = lake_history_lake() %}
        {% set plans, refused = [], {} %}
        {% for table in (lake['tables'].keys() | list + built.keys() | list) | unique | sort %}
            {% set plan = lake_history_plan(schema, table, lake['tables'].get(table, []), lake['catalogs'], built.get(table)) %}
            {% if plan is string %}
                {% do refused.update({table: plan}) if table in built %}
            {% elif plan['problems'] %}
                {% do refused.update({table: plan['problems'][0]}) %}
            {% else %}
                {% do plans.append(plan) %}
            {% endif %}
        {% endfor %}
        {% do refused.update(lake_history_verify(plans)) %}
        {% set plans = plans | rejectattr('name', 'in', refused.keys() | list) | list %}
        {% set ddl = [] %}
        {% for plan in plans %}
            {% do ddl.extend(plan['table']['ddl'] + ['alter table ' ~ plan['relation']
                ~ ' add column valid_from date not null, add column valid_to date']) %}
        {% endfor %}
        {% do lake_postgres_execute(ddl) if ddl %}
        {% set late = [] %}
        {% for plan in plans %}
            {% set problem = lake_load_history(plan, today.get(plan['name'])) %}
            {% if problem %}
                {% do refused.update({plan['name']: problem}) %}
                {% do late.append('drop table ' ~ plan['relation']) %}
            {% endif %}
        {% endfor %}
        {% set plans = plans | rejectattr('name', 'in', refused.keys() | list) | list %}
        {% set kept = {} %}
        {% for table, why in refused | dictsort %}
            {% if table in built %}
                {% do kept.update({table: why}) %}
                {{ log('step 2: history.' ~ table ~ ' kept as published: ' ~ why, info=true) }}
            {% else %}
                {{ log('step 2: no history for ' ~ table ~ ' this run: ' ~ why, info=true) }}
            {% endif %}
        {% endfor %}
        {% set keeping = [] %}
        {% for table, why in kept.items() %}
            {% do keeping.append(lake_history_kept(schema, table, built[table], why)) %}
        {% endfor %}
        {% do late.extend(keeping | map(attribute='ddl') | sum(start=[])) %}
        {% do lake_postgres_execute(late) if late %}
        {% set statements = [] %}
        {% for plan in plans %}
            {% do statements.extend(plan['table']['alters']) %}
        {% endfor %}
        {% do statements.extend(keeping | map(attribute='statements') | sum(start=[])) %}
        {% for plan in plans %}
            {% if plan['since'] %}
                {% do statements.append(lake_history_merge(plan['relation'], plan['published'], plan['key'],
                    plan['copied'], plan['since'])) %}
            {% endif %}
            {% do statements.append('comment on table ' ~ plan['relation'] ~ ' is ' ~ lake_sql_string(tojson(plan['built']))) %}
            {% for note in plan['notes'] %}
                {{ log('step 2: history.' ~ plan['name'] ~ ': ' ~ note, info=true) }}
            {% endfor %}
        {% endfor %}
        {% set whole = plans | rejectattr('since') | map(attribute='name') | list %}
        {{ log('step 2: history of ' ~ plans | length ~ ' tables, ' ~ (('computed whole for ' ~ whole | join(', '))
            if whole else 'each from the day before its first change'), info=true) }}
        {% set gone = [] %}
        {% for plan in plans if plan['built'].get('gone') %}
            {% do gone.append(plan['name'] ~ ' (' ~ plan['built']['gone'] ~ ')') %}
        {% endfor %}
        {% if gone %}
            {{ log('step 2: history kept for the tables no longer extracted: ' ~ gone | join(', '), info=true) }}
        {% endif %}
        {% do lake_postgres_execute(statements) if statements %}
        {% do lake_history_unchanged(plans) %}
    {% endif %}
{% endmacro %}

{#
    What the history of each table in `schema` (the published one by default) was built from,
    by table, as its comment records it (lake_history_plan's `built`): its `days` (day: SHA-256
    of the partition, or "absent"), its `columns` (signature), its `segments` ([first day, key]),
    its current `key`, its `partial` columns (those some of its days lack), its `typed` columns;
    and its column `names` as the warehouse has them. Empty when there is none.
#}
{% macro lake_history_built(schema='history') %}
    {% set built = {} %}
    {% set rows = run_query("select * from " ~ lakehouse_warehouse_query("select c.relname::text, obj_description(c.oid, 'pg_class'), "
        ~ "(select json_agg(a.attname order by a.attnum) from pg_attribute as a where a.attrelid = c.oid and a.attnum > 0 "
        ~ "and not a.attisdropped and a.attname not in ('valid_from', 'valid_to'))::text "
        ~ "from pg_class as c inner join pg_namespace as n on n.oid = c.relnamespace "
        ~ "where n.nspname = " ~ lake_sql_string(schema) ~ " and c.relkind = 'r'")).rows %}
    {% for row in rows if row[1] and row[1].startswith('{') %}
        {% do built.update({row[0]: dict(fromjson(row[1]), names=fromjson(row[2] or '[]'))}) %}
    {% endfor %}
    {{ return(built) }}
{% endmacro %}

{#
    The first day a table's history must be computed from again, or nothing when it must be
    computed whole. `built`: what the published history was built from (lake_history_built);
    `days`: the present days now (`day`, `sha256`, `columns`), oldest first; `signature`: the
    columns now (lake_history_plan). The versions that end on or before the present day
    preceding the first day added, removed or rewritten cannot change, and that day's rows
    give the rest all they compare with, when it and every later day have every column.
#}
{% macro lake_history_since(built, days, signature, names, full_refresh=false) -%}
    {%- if built and not full_refresh and built['columns'] == signature -%}
        {%- set now, changed, before = {}, [], [] -%}
        {%- for day in days %}{% do now.update({day['day']: day['sha256']}) %}{% endfor -%}
        {%- for day, sha256 in now.items() if built['days'].get(day) != sha256 %}{% do changed.append(day) %}{% endfor -%}
        {%- for day in built['days'] if day not in now %}{% do changed.append(day) %}{% endfor -%}
        {%- for day in days if not changed or day['day'] < changed | min %}{% do before.append(day) %}{% endfor -%}
        {%- if before -%}
            {%- set since = before[-1]['day'] -%}
            {%- set whole = [] -%}
            {%- for day in days if day['day'] >= since and day['columns'] | sort | list == names | sort | list -%}
                {%- do whole.append(day) -%}
            {%- endfor -%}
            {%- if whole | length == days | selectattr('day', '>=', since) | list | length -%}{{ since }}{%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#
    The statements that complete `next`, which holds the versions computed from the day `since` on
    of the keys that changed from that day on (lake_history_versions' `changed_only`), from the
    versions of `published`: those of the other keys that run across `since` (now current),
    those that ended on or before it, and the start of the changed keys' versions that run across
    it. Only the changes cross from DuckDB; PostgreSQL copies the rest. `copied`: by column name,
    the expression that gives a published version's value in `next`'s type (lake_history_plan),
    for the columns before valid_from and valid_to; keys compare through it too.
#}
{% macro lake_history_merge(next, published, key, copied, since) -%}
    {%- set day = "date '" ~ since ~ "'" -%}
    {%- set same_key = [] -%}
    {%- for name in key %}{% do same_key.append('n.' ~ lake_quote(name) ~ ' = ' ~ copied[name]) %}{% endfor -%}
    insert into {{ next }} select {{ copied.values() | join(', ') }}, o.valid_from, null
    from {{ published }} as o where o.valid_from <= {{ day }} and (o.valid_to > {{ day }} or o.valid_to is null)
        and not exists (select 1 from {{ next }} as n where {{ same_key | join(' and ') }});
    insert into {{ next }} select {{ copied.values() | join(', ') }}, o.valid_from, o.valid_to from {{ published }} as o where o.valid_to <= {{ day }};
    update {{ next }} as n set valid_from = o.valid_from from {{ published }} as o
    where n.valid_from = {{ day }} and o.valid_from < {{ day }} and (o.valid_to > {{ day }} or o.valid_to is null)
        and {{ same_key | join(' and ') }}
{%- endmacro %}

{#
    A load locks only its own day: step 1 may rewrite another day meanwhile. Each partition
    history read must still have the manifest it was verified against, or nothing is published.
#}
{% macro lake_history_unchanged(plans) %}
    {% set read, paths = {}, [] %}
    {% for plan in plans %}
        {% for manifest in plan['reads'] %}
            {% do read.update({manifest['manifest_path']: manifest['sha256']}) %}
            {% do paths.append(lake_sql_string(manifest['manifest_path'])) %}
        {% endfor %}
    {% endfor %}
    {% set now = {} %}
    {% if paths %}
        {% for filename, sha256 in run_query("select filename, json_extract_string(content, '$.sha256') from read_text(["
            ~ paths | join(', ') ~ "])").rows %}
            {% do now.update({filename: sha256}) %}
        {% endfor %}
    {% endif %}
    {% for filename, sha256 in read.items() if now.get(filename) != sha256 %}
        {{ exceptions.raise_compiler_error('history: ' ~ filename ~ ' was rewritten by step 1 while this load read it: '
            ~ 'nothing published; run the load again') }}
    {% endfor %}
{% endmacro %}

{#
    What the lake holds, in two reads whatever the days it keeps: `tables`, by table, the
    manifests of its partitions, oldest first, each with its `manifest_path`, its data file's
    `path`, and its `problem` when the file is missing, its size is not the manifest's, or the
    ledger recorded another manifest for it; and `catalogs`, by day, the source's catalog as step
    1 read it (extract/postgres.py, catalog_record). Presence comes from the lake, not from the
    ledger: a narrower or lost ledger entry never removes a day.
#}
{% macro lake_history_lake() %}
    {% set lake = {'tables': {}, 'catalogs': {}} %}
    {% set pattern = lake_path('*/*/*/' ~ '_manifest.json') %}
    {% set ledgers = lake_path('_ledger/*/extract_*.json') %}
    {% set catalogs = lake_path('_catalog/*.json') %}
    {% set found = run_query("select (select count(*) from glob(" ~ lake_sql_string(pattern) ~ ")), (select count(*) from glob("
        ~ lake_sql_string(ledgers) ~ ")), (select count(*) from glob(" ~ lake_sql_string(catalogs) ~ "))").rows[0] %}
    {% if found[0] %}
        {% set days %}
            with written as (
                select filename, content, json_extract_string(content, '$.date') as date,
                    json_extract_string(content, '$.source') as source, json_extract_string(content, '$.table') as table_name,
                    left(filename, length(filename) - length('_manifest.json')) || json_extract_string(content, '$.file') as file
                from read_text({{ lake_sql_string(pattern) }})
                where json_extract_string(content, '$.source') in ('postgres', 'csv')
            ),
            recorded as (
                {%- if found[1] %}
                select json_extract_string(entry, '$.date') as date, json_extract_string(listed, '$.source') as source,
                    json_extract_string(listed, '$.table') as table_name, json_extract_string(listed, '$.sha256') as sha256
                from (
                    select content::json as entry, unnest(json_extract(content, '$.details.partitions[*]')) as listed
                    from read_text({{ lake_sql_string(ledgers) }})
                )
                where json_extract_string(entry, '$.status') = 'success'
                {%- else %}
                select null::varchar as date, null::varchar as source, null::varchar as table_name, null::varchar as sha256
                where false
                {%- endif %}
            )
            select written.filename, written.content, written.file, blob.size, recorded.sha256
            from written
            left join read_blob({{ lake_sql_string(lake_path('*/*/*/*')) }}) as blob on blob.filename = written.file
            left join recorded using (date, source, table_name)
            order by written.date
        {% endset %}
        {% for filename, content, file, size, recorded in run_query(days).rows %}
            {% set manifest = fromjson(content) %}
            {% set where = lake_root() ~ '/' ~ lake_partition_dir(manifest['source'], manifest['table'], manifest['date'])
                ~ '/' ~ manifest['file'] %}
            {% set problem = (where ~ ' is missing') if size is none
                else (where ~ ' does not match its manifest (size)') if size != manifest['bytes']
                else (where ~ "'s manifest differs from the one step 1 recorded") if recorded and recorded != manifest['sha256']
                else none %}
            {% do manifest.update({'manifest_path': filename, 'path': file, 'problem': problem}) %}
            {% do lake['tables'].setdefault(manifest['table'], []).append(manifest) %}
        {% endfor %}
    {% endif %}
    {% if found[2] %}
        {% for filename, content in run_query("select filename, content from read_text(" ~ lake_sql_string(catalogs) ~ ")").rows %}
            {% do lake['catalogs'].update({filename.split('/')[-1][:-5]: fromjson(content)['tables']}) %}
        {% endfor %}
    {% endif %}
    {{ return(lake) }}
{% endmacro %}

{#
    Every partition the plans read, checked against its manifest's SHA-256 in one pass over the
    files: by table, what is wrong with the first one that does not match.
#}
{% macro lake_history_verify(plans) %}
    {% set reads, problems = {}, {} %}
    {% for plan in plans %}
        {% for manifest in plan['reads'] %}
            {% do reads.update({manifest['path']: (plan['name'], manifest)}) %}
        {% endfor %}
    {% endfor %}
    {% if reads %}
        {% set paths = [] %}
        {% for path in reads %}{% do paths.append(lake_sql_string(path)) %}{% endfor %}
        {% for path, sha256 in run_query("select filename, sha256(content) from read_blob([" ~ paths | join(', ') ~ "])").rows %}
            {% set table, manifest = reads[path] %}
            {% if sha256 != manifest['sha256'] and table not in problems %}
                {% do problems.update({table: lake_root() ~ '/' ~ lake_partition_dir(manifest['source'], table, manifest['date'])
                    ~ '/' ~ manifest['file'] ~ ' does not match its manifest (SHA-256): restore that partition, or extract its day again'}) %}
            {% endif %}
        {% endfor %}
    {% endif %}
    {{ return(problems) }}
{% endmacro %}

{#
    The type two days' values of a column compare and are kept under when one type holds every
    value of the others exactly, by PostgreSQL's own rules (`kinds`: the column as each of its
    shapes has it, newest first): integers, reals, bounded numerics of growing scale,
    character(n), varchar and text, timestamp and timestamptz (a timestamp read in the source's
    TimeZone). Its `column` (the widest), and the `cast` of a day's values to it (a template
    around "{}", the value, with "{tz}" for the day's source's TimeZone, which leaves a value of
    the widest type as it is). None when no type holds the others.
#}
{% macro lake_history_widened(kinds) %}
    {% set families = {'smallint': 'integer', 'integer': 'integer', 'bigint': 'integer', 'real': 'float',
        'double precision': 'float', 'text': 'text'} %}
    {% set ranks = {'smallint': 1, 'integer': 2, 'bigint': 3, 'real': 1, 'double precision': 2} %}
    {% set duck = {'smallint': 'SMALLINT', 'integer': 'INTEGER', 'bigint': 'BIGINT', 'real': 'FLOAT', 'double precision': 'DOUBLE'} %}
    {% set seen = [] %}
    {% for kind in kinds %}
        {% set type = kind['source_type'] %}
        {% if kind.get('enum_labels') is not none or kind.get('domain') is not none or kind.get('composite_fields') is not none
            or type.endswith('[]') %}
            {{ return(none) }}
        {% endif %}
        {% set family = families.get(type) or ('numeric' if type.startswith('numeric(') else 'character' if type.startswith('character(')
            else 'text' if type.startswith('character varying') else 'timestamp' if type.startswith('timestamp') else none) %}
        {# The lake's type of the day must be the family's own (a numeric holding NaN travels as text that day). #}
        {% set lake_type = duck.get(type) if family in ('integer', 'float') else 'DECIMAL' if family == 'numeric'
            else 'TIMESTAMP' if family == 'timestamp' else 'VARCHAR' %}
        {% if family is none or not kind['type'].startswith(lake_type) %}
            {{ return(none) }}
        {% endif %}
        {% do seen.append((family, type, kind)) %}
    {% endfor %}
    {% set family = seen[0][0] %}
    {% if seen | map(attribute=0) | unique | list | length > 1 %}
        {{ return(none) }}
    {% endif %}
    {% set types = seen | map(attribute=1) | list %}
    {% if family in ('integer', 'float') %}
        {% set best = {'type': types[0]} %}
        {% for type in types if ranks[type] > ranks[best['type']] %}{% do best.update({'type': type}) %}{% endfor %}
        {{ return({'column': {'type': duck[best['type']], 'source_type': best['type'], 'warehouse_type': best['type']},
            'cast': 'cast({} as ' ~ duck[best['type']] ~ ')'}) }}
    {% elif family == 'numeric' %}
        {% set digits, scales = [], [] %}
        {% for type in types %}
            {% set precision, scale = type[8:-1].split(',') %}
            {% do digits.append(precision | int - scale | int) %}
            {% do scales.append(scale | int) %}
        {% endfor %}
        {% if digits | max + scales | max > 38 %}
            {{ return(none) }}
        {% endif %}
        {% set shape = (digits | max + scales | max) ~ ',' ~ scales | max %}
        {{ return({'column': {'type': 'DECIMAL(' ~ shape ~ ')', 'source_type': 'numeric(' ~ shape ~ ')',
            'warehouse_type': 'numeric(' ~ shape ~ ')'}, 'cast': 'cast({} as DECIMAL(' ~ shape ~ '))'}) }}
    {% elif family == 'character' %}
        {% set lengths = [] %}
        {% for type in types %}{% do lengths.append(type[10:-1] | int) %}{% endfor %}
        {{ return({'column': {'type': 'VARCHAR', 'source_type': 'character(' ~ lengths | max ~ ')', 'warehouse_type': 'text'},
            'cast': 'rpad({}, ' ~ lengths | max ~ ", ' ')"}) }}
    {% elif family == 'text' %}
        {% set lengths = [] %}
        {% for type in types if type.startswith('character varying(') %}{% do lengths.append(type[18:-1] | int) %}{% endfor %}
        {% set type = 'character varying(' ~ lengths | max ~ ')' if lengths | length == types | length else 'text' %}
        {{ return({'column': {'type': 'VARCHAR', 'source_type': type, 'warehouse_type': type}, 'cast': '{}'}) }}
    {% else %}
        {% set zoned, precisions = [], [] %}
        {% for type in types %}
            {% do zoned.append(type) if type.endswith('with time zone') %}
            {% do precisions.append(type.split('(')[1].split(')')[0] | int if '(' in type else 6) %}
        {% endfor %}
        {% set type = 'timestamp' ~ ('' if precisions | max == 6 else '(' ~ precisions | max ~ ')')
            ~ (' with time zone' if zoned else ' without time zone') %}
        {{ return({'column': {'type': 'TIMESTAMP WITH TIME ZONE' if zoned else 'TIMESTAMP', 'source_type': type,
            'warehouse_type': type}, 'cast': 'timezone({tz}, {})' if zoned else '{}'}) }}
    {% endif %}
{% endmacro %}

{#
    What building one table's history takes, from `manifests` (its partitions, oldest first,
    lake_history_lake), the source's `catalogs` and what the published one was `built` from; or,
    as a string, why it has none. The plan: its `relation` in `schema` and its `published` one,
    its `table` statements (lake_raw_table), the `names` of its columns (the newest day's, then
    those only earlier days have), the `segments` to compute (their `key`, `days` and the day
    they end), `since` (lake_history_since), the partitions it `reads`, the `problems` that
    refuse it, its `notes` for the log, and what it is `built` from, for its comment.
#}
{% macro lake_history_plan(schema, table, manifests, catalogs, built) %}
    {% set keyed = manifests | selectattr('primary_key') | list %}
    {% if not keyed %}
        {{ return('the lake holds no partition of it with a primary key') }}
    {% endif %}
    {% set problems = keyed | map(attribute='problem') | select | list %}
    {# Days share their columns: each distinct list (newest first) is read once, with its number of days. #}
    {% set shapes, shape_of = {}, {} %}
    {% for manifest in keyed | reverse %}
        {% set shape = tojson(manifest['columns']) %}
        {% do shape_of.update({manifest['date']: shape}) %}
        {% do shapes.update({shape: shapes.get(shape, {'columns': manifest['columns'], 'days': 0})}) %}
        {% do shapes[shape].update({'days': shapes[shape]['days'] + 1}) %}
    {% endfor %}
    {% set columns, seen, kinds, counts = [], {}, {}, {} %}
    {% for shape in shapes.values() %}
        {% for column in shape['columns'] %}
            {% if column['name'] not in seen %}
                {% do seen.update({column['name']: column}) %}
                {% do columns.append(column) %}
                {% do kinds.update({column['name']: {}}) %}
            {% endif %}
            {% do kinds[column['name']].update({[column['type'], column['source_type'], column['warehouse_type'],
                column.get('enum_labels'), column.get('domain'), column.get('domain_clauses'), column.get('composite_fields'),
                column.get('composite_array')] | string: column}) %}
            {% do counts.update({column['name']: counts.get(column['name'], 0) + shape['days']}) %}
        {% endfor %}
        {% do shape.update({'names': shape['columns'] | map(attribute='name') | list}) %}
    {% endfor %}
    {% set names = columns | map(attribute='name') | list %}
    {% if 'valid_from' in names or 'valid_to' in names %}
        {{ log('step 2: no history for ' ~ table ~ ': it has a column named valid_from or valid_to', info=true) }}
        {{ return('it has a column named valid_from or valid_to') }}
    {% endif %}
    {% set retyped, typed, notes = {}, [], [] %}
    {% for column in columns %}
        {% set shapes_of = kinds[column['name']].values() | list %}
        {% if shapes_of | length > 1 %}
            {% set widened = lake_history_widened(shapes_of) %}
            {% set was = shapes_of | map(attribute='source_type') | unique | list | reverse | join(', ') %}
            {% if widened %}
                {% do typed.append(dict(widened['column'], name=column['name'])) %}
                {% do retyped.update({column['name']: widened}) %}
                {% do notes.append(column['name'] ~ ' retyped (' ~ was ~ '): compared and kept as ' ~ widened['column']['source_type']) %}
            {% else %}
                {% do typed.append({'name': column['name'], 'type': 'VARCHAR', 'source_type': 'text', 'warehouse_type': 'text'}) %}
                {% do retyped.update({column['name']: {'column': typed[-1], 'cast': 'cast({} as varchar)'}}) %}
                {% do notes.append(column['name'] ~ ' retyped (' ~ was ~ '), no type holds every value of the others: compared and kept as text') %}
            {% endif %}
        {% elif 'NOT NULL' in (column.get('domain_clauses') or []) %}
            {# A version of a day without the column holds NULL there: history's domain allows it. #}
            {% do typed.append(dict(column, domain_clauses=column['domain_clauses'] | reject('equalto', 'NOT NULL') | list)) %}
        {% else %}
            {% do typed.append(column) %}
        {% endif %}
    {% endfor %}
    {% set signature, textual = [], [] %}
    {% for column in typed %}
        {% do signature.append(column['name'] ~ ' ' ~ column['source_type'] ~ ' ' ~ column['warehouse_type']) %}
        {% do textual.append(loop.index0) if 'FLOAT' in column['type'] or 'DOUBLE' in column['type'] %}
    {% endfor %}
    {% set partial = [] %}
    {% for name in names if counts[name] < keyed | length %}{% do partial.append(name) %}{% endfor %}
    {# The segments: the keyed days, in runs of one key; a day the catalog lacked the table ends the keys of its segment. #}
    {% set segments = [] %}
    {% for manifest in keyed %}
        {% if not segments or segments[-1]['key'] != manifest['primary_key'] %}
            {% do segments.append({'key': manifest['primary_key'], 'from': manifest['date'], 'days': []}) %}
        {% endif %}
        {% do segments[-1]['days'].append({'day': manifest['date'], 'manifest': manifest}) %}
    {% endfor %}
    {% set partitioned = manifests | map(attribute='date') | list %}
    {% set absent = [] %}
    {% set catalogs = catalogs if keyed[-1]['source'] == 'postgres' else {} %}  {# the catalogs are the source database's #}
    {% for day, tables in catalogs | dictsort if table not in tables and day not in partitioned and day > keyed[0]['date'] %}
        {% do absent.append(day) %}
        {% do (segments | selectattr('from', '<', day) | list)[-1]['days'].append({'day': day, 'manifest': none}) %}
    {% endfor %}
    {% set recorded = {} %}
    {% for segment in segments %}
        {% do segment.update({'days': segment['days'] | sort(attribute='day')}) %}
        {% for day in segment['days'] %}
            {% do recorded.update({day['day']: day['manifest']['sha256'] if day['manifest'] else 'absent'}) %}
        {% endfor %}
    {% endfor %}
    {% set layout = [] %}
    {% for segment in segments %}{% do layout.append([segment['from'], segment['key']]) %}{% endfor %}
    {% set last = segments[-1] %}
    {% set present = [] %}
    {% for day in last['days'] %}
        {% do present.append({'day': day['day'], 'sha256': recorded[day['day']],
            'columns': shapes[shape_of[day['day']]]['names'] if day['manifest'] else names}) %}
    {% endfor %}
    {% set same = built and built.get('format') == 2 and built.get('segments') == layout %}
    {% set tail, stale = {}, [] %}
    {% for day, sha256 in (built['days'] if same else {}).items() %}
        {% do tail.update({day: sha256}) if day >= last['from'] %}
        {% do stale.append(day) if day < last['from'] and recorded.get(day) != sha256 %}
    {% endfor %}
    {% for day in recorded if day < last['from'] and same and day not in built['days'] %}{% do stale.append(day) %}{% endfor %}
    {# A day of an earlier key added, removed or rewritten: every segment again. #}
    {% set since = lake_history_since({'days': tail, 'columns': built['columns']} if same and not stale else none,
        present, signature | join(', '), names, flags.FULL_REFRESH) | trim %}
    {% if built and built.get('columns') == signature | join(', ') %}
        {% do notes.clear() %}  {# said when the columns changed #}
    {% endif %}
    {# A manifest written before they recorded the source's TimeZone: the newest one recorded. #}
    {% set zone = (keyed | map(attribute='timezone') | select | list or ['UTC'])[-1] %}
    {% set computed, reads = [], [] %}
    {% for segment in segments if not since or segment['from'] == last['from'] %}
        {% set days = [] %}
        {% for day in segment['days'] if day['day'] >= since %}
            {% set manifest = day['manifest'] %}
            {% if manifest %}
                {% set has = manifest['columns'] | map(attribute='name') | list %}
                {% set casts = [] %}
                {% for column in manifest['columns'] if column['name'] in retyped %}
                    {% set widened = retyped[column['name']] %}
                    {% if (column['source_type'] != widened['column']['source_type'] or column['type'] != widened['column']['type'])
                        and not (column['type'] == widened['column']['type'] and '{tz}' in widened['cast']) %}
                        {% do casts.append(widened['cast'] | replace('{tz}', lake_sql_string(manifest.get('timezone') or zone))
                            | replace('{}', lake_quote(column['name'])) ~ ' as ' ~ lake_quote(column['name'])) %}
                    {% endif %}
                {% endfor %}
                {% set relation = '(select * replace (' ~ casts | join(', ') ~ ') from ' ~ lake_read_partition(manifest) ~ ')'
                    if casts else lake_read_partition(manifest) %}
                {% do days.append({'day': day['day'], 'relation': relation, 'columns': has}) %}
                {% do reads.append(manifest) %}
            {% else %}
                {% do days.append({'day': day['day'], 'relation': none, 'columns': []}) %}
            {% endif %}
        {% endfor %}
        {% set following = segments | selectattr('from', '>', segment['from']) | map(attribute='from') | first %}
        {% do computed.append({'key': segment['key'], 'days': days, 'ends': following}) %}
    {% endfor %}
    {% set gone = none %}
    {% if not manifests[-1]['primary_key'] %}
        {% set since_day = manifests | rejectattr('primary_key') | selectattr('date', '>', keyed[-1]['date']) | first %}
        {% set gone = 'no primary key since ' ~ since_day['date'] ~ ': kept as of ' ~ keyed[-1]['date'] %}
    {% elif manifests[-1]['date'] < lake_run_date() %}
        {% set newest = manifests[-1]['date'] %}
        {% set later = catalogs | dictsort | selectattr(0, '>', newest) | list %}
        {% set fate = later[-1][1].get(table) if later else 'not extracted since' %}
        {% set gone = 'last extracted ' ~ newest ~ '; ' ~ ('not in the source since ' ~ absent | select('>', newest) | first
            if fate is none else 'left out by the selection' if fate == 'left out'
            else 'the source role cannot read it' if fate == 'unreadable' else 'not extracted since') %}
    {% endif %}
    {% set copied = lake_history_copied(schema, typed) %}
    {% set comment = {'format': 2, 'days': recorded, 'columns': signature | join(', '), 'key': last['key'], 'segments': layout,
        'partial': partial, 'typed': typed} %}
    {% do comment.update({'gone': gone}) if gone %}
    {{ return({'name': table, 'key': last['key'], 'relation': lake_quote(schema) ~ '.' ~ lake_quote(table),
        'published': lake_quote(lakehouse_schema('history')) ~ '.' ~ lake_quote(table),
        'table': lake_raw_table(schema, {'table': table, 'columns': typed}), 'names': names, 'copied': copied,
        'segments': computed, 'since': since, 'textual': textual, 'reads': reads, 'problems': problems,
        'notes': notes, 'built': comment}) }}
{% endmacro %}

{#
    Fill one table's history (a plan of lake_history_plan, its table created), segment by
    segment; or, when a day read has duplicate keys, say so (nothing is filled then). `today`:
    the run date's manifest of the table, when step 1 took it today.
#}
{% macro lake_load_history(plan, today) %}
    {% for segment in plan['segments'] %}
        {% set days, key, names = segment['days'], segment['key'], plan['names'] %}
        {% do run_query("create or replace temp table lakehouse_history_snapshots as " ~ lake_history_snapshots(days, names)) %}
        {#
            The run date's own duplicates are left to its key tests, which name them and keep its
            failing rows: a source's partition is unique by its key (one snapshot), and the CSV's
            order lines have their primary key test. Another day's refuse this table's history.
        #}
        {% set duplicates = run_query(lake_history_duplicates('lakehouse_history_snapshots', days, key, names,
            except_day=lake_run_date() if today else none)) %}
        {% if duplicates.rows %}
            {% do run_query("drop table lakehouse_history_snapshots") %}
            {% set found = [] %}
            {% for row in duplicates.rows %}
                {% do found.append('(' ~ row[1:-1] | join(', ') ~ ') ' ~ row[-1] ~ ' times on ' ~ row[0]) %}
            {% endfor %}
            {{ return('duplicate keys (' ~ key | join(', ') ~ ') in the lake: ' ~ found | join('; ')
                ~ '; replace that partition with the data of its day, or remove it') }}
        {% endif %}
        {% do run_query("insert into warehouse." ~ plan['relation'] ~ " " ~ lake_history_versions('lakehouse_history_snapshots',
            days, key, names, plan['since'] != '', plan['textual'], segment['ends'])) %}
        {% do run_query("drop table lakehouse_history_snapshots") %}
    {% endfor %}
    {{ return(none) }}
{% endmacro %}

{#
    The statements that keep a table's published history as it is in `schema`, from what it
    was `built` from (its comment), `refused` saying why for the CLI: its `ddl`, and the
    `statements` that fill it once its columns have their types.
#}
{% macro lake_history_kept(schema, table, built, refused) %}
    {% set relation = lake_quote(schema) ~ '.' ~ lake_quote(table) %}
    {% set published = lake_quote(lakehouse_schema('history')) ~ '.' ~ lake_quote(table) %}
    {% set comment = 'comment on table ' ~ relation ~ ' is ' ~ lake_sql_string(tojson(dict(built, refused=refused))) %}
    {% if not built.get('typed') %}
        {#
            Written before the comment recorded its columns: copied as it is, but for the columns of
            the published schema's own types (enums, composites, domains), which its drop would take
            with it: those become text.
        #}
        {% set own_types %}
            do $own$ declare c record; begin
            for c in select a.attname from pg_attribute as a inner join pg_type as t on t.oid = a.atttypid
                left join pg_type as e on e.oid = t.typelem
                where a.attrelid = {{ lake_sql_string(relation) }}::regclass and a.attnum > 0 and not a.attisdropped
                    and {{ lake_sql_string(lakehouse_schema('history')) }}::regnamespace in (t.typnamespace, e.typnamespace)
            loop execute format('alter table %s alter column %I type text', {{ lake_sql_string(relation) }}, c.attname);
            end loop; end $own$
        {% endset %}
        {{ return({'ddl': ['create table ' ~ relation ~ ' (like ' ~ published ~ ')', own_types],
            'statements': ['insert into ' ~ relation ~ ' select * from ' ~ published, comment]}) }}
    {% endif %}
    {% set table_sql = lake_raw_table(schema, {'table': table, 'columns': built['typed']}) %}
    {% set values = lake_history_copied(schema, built['typed']).values() | list %}
    {{ return({'ddl': table_sql['ddl'] + ['alter table ' ~ relation ~ ' add column valid_from date not null, add column valid_to date'],
        'statements': table_sql['alters'] + ['insert into ' ~ relation ~ ' select ' ~ values | join(', ')
            ~ ', o.valid_from, o.valid_to from ' ~ published ~ ' as o', comment]}) }}
{% endmacro %}

{#
    By column of `typed`, the expression that gives a published version's value (of `o`) in the
    type `schema` gives it: the published schema's enum and composite types are not the new
    one's, so their values cross as text.
#}
{% macro lake_history_copied(schema, typed) %}
    {% set copied = {} %}
    {% for column in typed %}
        {% set recreated = column.get('enum_labels') is not none or column.get('composite_fields') is not none %}
        {% do copied.update({column['name']: 'o.' ~ lake_quote(column['name']) ~ (('::text::' ~ lake_quote(schema) ~ '.'
            ~ lake_quote(column['type_name']) ~ ('[]' if column.get('composite_array') or column.get('enum_array') else ''))
            if recreated else '')}) %}
    {% endfor %}
    {{ return(copied) }}
{% endmacro %}
