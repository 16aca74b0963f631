{#
    History: SCD2 versions of every keyed table, a pure function of the lake.

    Over a table's present days (its partition is whole and step 1 recorded it, as the gate
    checks), a key's version is a maximal run of consecutive present days on which the key
    is there with equal values; `valid_from` is its first day, `valid_to` (exclusive) the
    next present day, on which the key is gone or its values differ, or NULL. A missing day
    changes nothing; a key absent on a present day ends its version, and one that comes
    back starts a new one. Values compare NULL-safe and as typed. A column a day lacks is
    not compared on that day: each column compares with the key's last earlier day in the
    same run of presence that has the column, so adding or dropping a column makes no
    version, and a value changed across days without the column does.
#}

{#
    The rows of every present day, one select per day: `idx` (the day's position among the
    present days) and, per column of `columns` by position, `v<i>` (its value, NULL on a
    day without it) and `h<i>` (whether the day has it). `days`: dicts with `relation` (a
    table expression of the day's rows) and `columns` (the names it has), in day order.
#}
{% macro lake_history_snapshots(days, columns) -%}
    {%- for day in days %}
    select {{ loop.index0 }} as idx
        {%- for column in columns %}, {{ lake_quote(column) if column in day['columns'] else 'null' }} as v{{ loop.index0 }}, {{ column in day['columns'] }} as h{{ loop.index0 }}
        {%- endfor %}
    from {{ day['relation'] }}
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
#}
{% macro lake_history_versions(snapshots, days, key, columns, changed_only=false) -%}
    {%- set by_key = lake_history_key(key, columns) -%}
    {%- set others = [] -%}
    {%- for column in columns %}{% if column not in key %}{% do others.append(loop.index0) %}{% endif %}{% endfor -%}
    with history_days (idx, day) as (
        values {% for day in days %}({{ loop.index0 }}, date '{{ day['day'] }}'){{ ', ' if not loop.last }}{% endfor %}
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
            or (h{{ i }} and coalesce((last_value(case when h{{ i }} then {'v': v{{ i }}} end ignore nulls) over earlier).v is distinct from v{{ i }}
                and last_value(case when h{{ i }} then {'v': v{{ i }}} end ignore nulls) over earlier is not null, false))
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
    On-run-start of build and run, after the raw copy: "history__next" gets every keyed table's
    versions over all its present days, published with raw and the marts. A table whose
    partition names no primary key gets none, and the run says so. As for raw, the DDL of all
    tables goes in one round trip, and the type changes in another. The postgres target keeps
    its own (postgres_history.sql).
#}
{% macro load_history_tables() %}
    {% if target.type == 'postgres' and lakehouse_writing() %}
        {% do load_postgres_history() %}
    {% elif target.type == 'duckdb' and lakehouse_writing() %}
        {% set schema = lakehouse_building('history') %}
        {% set ledger = lake_ledger() %}
        {% set keyed, unkeyed = [], [] %}
        {% for manifest in ledger['extract_postgres']['details']['partitions'] + ledger['extract_csv']['details']['partitions'] %}
            {% do (keyed if manifest.get('primary_key') else unkeyed).append(manifest) %}
        {% endfor %}
        {% if unkeyed %}
            {{ log('step 2: no history for ' ~ unkeyed | map(attribute='table') | join(', ') ~ ': no primary key', info=true) }}
        {% endif %}
        {% set built = lake_history_built() %}
        {% set present = lake_present_days(keyed, built) %}
        {% set plans, ddl, alters, merges = [], [], [], [] %}
        {% for manifest in keyed %}  {# the run date's key, over every present day #}
            {% set plan = lake_history_plan(schema, manifest['primary_key'], present['tables'][manifest['table']],
                built.get(manifest['table'])) %}
            {% if plan %}
                {% do plans.append(plan) %}
                {% do ddl.extend(plan['table']['ddl'] + ['alter table ' ~ plan['relation']
                    ~ ' add column valid_from date not null, add column valid_to date']) %}
                {% do alters.extend(plan['table']['alters']) %}
                {% if plan['since'] %}
                    {% do merges.append(lake_history_merge(plan['relation'], plan['published'], plan['key'],
                        plan['copied'], plan['since'])) %}
                {% endif %}
                {% do merges.append('comment on table ' ~ plan['relation'] ~ ' is ' ~ lake_sql_string(tojson(plan['built']))) %}
            {% endif %}
        {% endfor %}
        {% do lake_postgres_execute(ddl) if ddl %}
        {% for plan in plans %}
            {% do lake_load_history(plan) %}
        {% endfor %}
        {% set whole = plans | rejectattr('since') | map(attribute='name') | list %}
        {{ log('step 2: history of ' ~ plans | length ~ ' tables, ' ~ (('computed whole for ' ~ whole | join(', '))
            if whole else 'each from the day before its first change'), info=true) }}
        {% do lake_postgres_execute(alters + merges) if alters + merges %}
        {% do lake_history_unchanged(present) %}
    {% endif %}
{% endmacro %}

{#
    What the history of each table in `schema` (the published one by default) was built from,
    by table: its `days` (day: SHA-256 of the partition), its `columns` (lake_history_plan's
    signature), its `key` and its `partial` columns (those some of its days lack), as its table
    comment records them. Empty when there is none.
#}
{% macro lake_history_built(schema='history') %}
    {% set built = {} %}
    {% set rows = run_query("select * from " ~ lakehouse_warehouse_query("select c.relname::text, obj_description(c.oid, 'pg_class') "
        ~ "from pg_class as c inner join pg_namespace as n on n.oid = c.relnamespace "
        ~ "where n.nspname = " ~ lake_sql_string(schema) ~ " and c.relkind = 'r'")).rows %}
    {% for row in rows if row[1] and row[1].startswith('{') %}
        {% do built.update({row[0]: fromjson(row[1])}) %}
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
{% macro lake_history_unchanged(present) %}
    {% set now = {} %}
    {% if present['globs'] %}
        {% for filename, sha256 in run_query("select filename, json_extract_string(content, '$.sha256') from read_text(["
            ~ present['globs'] | join(', ') ~ "])").rows %}
            {% do now.update({filename: sha256}) %}
        {% endfor %}
    {% endif %}
    {% for filename, sha256 in present['manifests'].items() if now.get(filename) != sha256 %}
        {{ exceptions.raise_compiler_error('history: ' ~ filename ~ ' was rewritten by step 1 while this load read it: '
            ~ 'nothing published; run the load again') }}
    {% endfor %}
{% endmacro %}

{#
    The present days of each table of `manifests` (the run date's): `tables`, by table, the
    manifests of the days whose partition step 1 recorded as written (its ledger entry succeeded
    and lists this manifest) and whose file matches its manifest: its size, and its SHA-256
    unless the published history was built from that very manifest (`built`), whose file was
    checked then; oldest first. Also the `manifests` read (path: SHA-256) and their `globs`, for
    lake_history_unchanged. DuckDB joins the days' manifests, ledger entries and file sizes in
    one query, so what a load does here grows with the tables, not with the days the lake keeps.
#}
{% macro lake_present_days(manifests, built) %}
    {% set globs, files = [], [] %}
    {% for manifest in manifests %}
        {% set folder = lake_path(lake_partition_dir(manifest['source'], manifest['table'], '*')) %}
        {% do globs.append(lake_sql_string(folder ~ '/_manifest.json')) %}
        {% do files.append(lake_sql_string(folder ~ '/*')) %}
    {% endfor %}
    {% set present = {'tables': {}, 'manifests': {}, 'globs': globs} %}
    {% if not globs %}
        {{ return(present) }}
    {% endif %}
    {% set days %}
        with recorded as (
            select json_extract_string(entry, '$.date') as date, json_extract_string(listed, '$.source') as source,
                json_extract_string(listed, '$.table') as table_name, json_extract_string(listed, '$.sha256') as sha256
            from (
                select content::json as entry, unnest(json_extract(content, '$.details.partitions[*]')) as listed
                from read_text({{ lake_sql_string(lake_path('_ledger/*/extract_*.json')) }})
            )
            where json_extract_string(entry, '$.status') = 'success'
        ),
        written as (
            select filename, content, json_extract_string(content, '$.date') as date,
                json_extract_string(content, '$.source') as source, json_extract_string(content, '$.table') as table_name,
                json_extract_string(content, '$.sha256') as sha256,
                json_extract(content, '$.bytes')::bigint as bytes,
                left(filename, length(filename) - length('_manifest.json')) || json_extract_string(content, '$.file') as file
            from read_text([{{ globs | join(', ') }}])
        )
        select written.filename, written.content, written.file
        from written
        inner join recorded using (date, source, table_name, sha256)
        inner join read_blob([{{ files | join(', ') }}]) as blob on blob.filename = written.file and blob.size = written.bytes
    {% endset %}
    {% set unchecked = {} %}
    {% for filename, content, file in run_query(days).rows %}
        {% set manifest = fromjson(content) %}
        {% if built.get(manifest['table'], {}).get('days', {}).get(manifest['date']) == manifest['sha256'] %}
            {% do present['tables'].setdefault(manifest['table'], []).append(manifest) %}
            {% do present['manifests'].update({filename: manifest['sha256']}) %}
        {% else %}
            {% do unchecked.update({file: (filename, manifest)}) %}
        {% endif %}
    {% endfor %}
    {% if unchecked %}
        {% set paths = [] %}
        {% for file in unchecked %}{% do paths.append(lake_sql_string(file)) %}{% endfor %}
        {% for file, sha256 in run_query("select filename, sha256(content) from read_blob([" ~ paths | join(', ') ~ "])").rows %}
            {% set filename, manifest = unchecked[file] %}
            {% if sha256 == manifest['sha256'] %}
                {% do present['tables'].setdefault(manifest['table'], []).append(manifest) %}
                {% do present['manifests'].update({filename: manifest['sha256']}) %}
            {% endif %}
        {% endfor %}
    {% endif %}
    {% for table, days in present['tables'].items() %}
        {% do present['tables'].update({table: days | sort(attribute='date')}) %}
    {% endfor %}
    {{ return(present) }}
{% endmacro %}

{#
    What building one table's history takes, from `days` (its present days' manifests, oldest
    first): its `relation` in `schema` and its `published` one, its `table` statements (lake_raw_table), the `names` of
    its columns (the newest day's, then those only earlier days have), its `snapshot_days`. A
    column whose type differs between days is kept as text, each day's values cast to it. None,
    said in the run's log, for a table with a column named as one history adds.
#}
{% macro lake_history_plan(schema, key, days, built=none) %}
    {% set table = days[-1]['table'] %}
    {# Days share their columns: each distinct list (newest first) is read once, with its number of days. #}
    {% set shapes, shape_of = {}, {} %}
    {% for manifest in days | reverse %}
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
            {% endif %}
            {% do kinds.setdefault(column['name'], []).append([column['type'], column['source_type'], column['warehouse_type'],
                column.get('enum_labels'), column.get('domain'), column.get('domain_clauses'), column.get('composite_fields'),
                column.get('composite_array')] | string) %}
            {% do counts.update({column['name']: counts.get(column['name'], 0) + shape['days']}) %}
        {% endfor %}
        {% do shape.update({'names': shape['columns'] | map(attribute='name') | list}) %}
    {% endfor %}
    {% set names = columns | map(attribute='name') | list %}
    {% if 'valid_from' in names or 'valid_to' in names %}
        {{ log('step 2: no history for ' ~ table ~ ': it has a column named valid_from or valid_to', info=true) }}
        {{ return(none) }}
    {% endif %}
    {% set retyped, typed = [], [] %}
    {% for column in columns %}
        {% if kinds[column['name']] | unique | list | length > 1 %}
            {% do retyped.append(column['name']) %}
            {% do typed.append({'name': column['name'], 'type': 'VARCHAR', 'source_type': 'text', 'warehouse_type': 'text'}) %}
        {% else %}
            {% do typed.append(column) %}
        {% endif %}
    {% endfor %}
    {% set signature, copied = [], {} %}
    {% for column in typed %}
        {% do signature.append(column['name'] ~ ' ' ~ column['source_type'] ~ ' ' ~ column['warehouse_type']) %}
        {# The published schema's enum and composite types are not the new one's: their values cross as text. #}
        {% set recreated = column.get('enum_labels') is not none or column.get('composite_fields') is not none %}
        {% do copied.update({column['name']: 'o.' ~ lake_quote(column['name']) ~ (('::text::' ~ lake_quote(schema) ~ '.'
            ~ lake_quote(column['type_name']) ~ ('[]' if column.get('composite_array') or column.get('enum_array') else ''))
            if recreated else '')}) %}
    {% endfor %}
    {% set present, recorded, partial = [], {}, [] %}
    {% for name in names if counts[name] < days | length %}{% do partial.append(name) %}{% endfor %}
    {% for manifest in days %}
        {% do present.append({'day': manifest['date'], 'sha256': manifest['sha256'],
            'columns': shapes[shape_of[manifest['date']]]['names']}) %}
        {% do recorded.update({manifest['date']: manifest['sha256']}) %}
    {% endfor %}
    {% set since = lake_history_since(built if built and built.get('key') == key else none, present, signature | join(', '),
        names, flags.FULL_REFRESH) | trim %}
    {% set snapshot_days = [] %}
    {% for manifest in days if manifest['date'] >= since %}
        {% set has = manifest['columns'] | map(attribute='name') | list %}
        {% if key | reject('in', has) | list %}
            {{ exceptions.raise_compiler_error('history.' ~ table ~ ': the partition of ' ~ manifest['date']
                ~ ' lacks a column of the key (' ~ key | join(', ') ~ ')') }}
        {% endif %}
        {% set casts = [] %}
        {% for name in retyped if name in has %}
            {% do casts.append('cast(' ~ lake_quote(name) ~ ' as varchar) as ' ~ lake_quote(name)) %}
        {% endfor %}
        {% set relation = '(select * replace (' ~ casts | join(', ') ~ ') from ' ~ lake_read_partition(manifest) ~ ')'
            if casts else lake_read_partition(manifest) %}
        {% do snapshot_days.append({'day': manifest['date'], 'relation': relation, 'columns': has}) %}
    {% endfor %}
    {{ return({'name': table, 'key': key, 'relation': lake_quote(schema) ~ '.' ~ lake_quote(table),
        'published': lake_quote(lakehouse_schema('history')) ~ '.' ~ lake_quote(table),
        'table': lake_raw_table(schema, {'table': table, 'columns': typed}),
        'names': names, 'copied': copied, 'snapshot_days': snapshot_days, 'since': since,
        'built': {'days': recorded, 'columns': signature | join(', '), 'key': key, 'partial': partial}}) }}
{% endmacro %}

{# Fill one table's history (a plan of lake_history_plan, its table created), unless a day has duplicate keys. #}
{% macro lake_load_history(plan) %}
    {% set days, key, names = plan['snapshot_days'], plan['key'], plan['names'] %}
    {% do run_query("create or replace temp table lakehouse_history_snapshots as " ~ lake_history_snapshots(days, names)) %}
    {#
        The run date's own duplicates are left to its key tests, which name them and keep its
        failing rows: a source's partition is unique by its key (one snapshot), and the CSV's
        order lines have their primary key test. Another day's fail here: the build would
        otherwise publish a history no test of the run date can see is wrong.
    #}
    {% set duplicates = run_query(lake_history_duplicates('lakehouse_history_snapshots', days, key, names,
        except_day=lake_run_date())) %}
    {% if duplicates.rows %}
        {% set found = [] %}
        {% for row in duplicates.rows %}
            {% do found.append('(' ~ row[1:-1] | join(', ') ~ ') ' ~ row[-1] ~ ' times on ' ~ row[0]) %}
        {% endfor %}
        {{ exceptions.raise_compiler_error('history.' ~ plan['name'] ~ ': duplicate keys (' ~ key | join(', ')
            ~ ') in the lake: ' ~ found | join('; ') ~ '; the warehouse keeps its previous history (replace that partition with '
            ~ 'the data of its day, or remove it)') }}
    {% endif %}
    {% do run_query("insert into warehouse." ~ plan['relation'] ~ " "
        ~ lake_history_versions('lakehouse_history_snapshots', days, key, names, plan['since'] != '')) %}
    {% do run_query("drop table lakehouse_history_snapshots") %}
{% endmacro %}
