{# Reading the lake from dbt-duckdb (and from dbt-spark): the run ledger, partition manifests, partition files. #}

{% macro lake_sql_string(text) -%}
    '{{ text | replace("'", "''") }}'
{%- endmacro %}

{# The DuckDB call that runs `sql` inside the attached warehouse, in PostgreSQL's own dialect. #}
{% macro lake_postgres_call(sql) -%}
    {{ return("call postgres_execute('warehouse', " ~ lake_sql_string(sql) ~ ")") }}
{%- endmacro %}

{# A table expression: the rows of `sql`, run inside the attached warehouse in PostgreSQL's own dialect. #}
{% macro lake_postgres_query(sql) -%}
    {{ return("postgres_query('warehouse', " ~ lake_sql_string(sql) ~ ")") }}
{%- endmacro %}

{#
    A setting of the run, read when dbt runs, never when it parses: `--vars '{<name>: …}'`,
    else the environment variable, else `default`. dbt re-parses the whole project when
    its CLI --vars change, and the files that read an environment variable at parse time
    when it changes; one read only at run time changes nothing parsed, so a new day keeps
    dbt's partial parse. Call it only where `execute` is true.
#}
{% macro lake_setting(name, env_name, default) -%}
    {{ return(var(name, none) or env_var(env_name, '') or default) }}
{%- endmacro %}

{# The run date: LAKEHOUSE_RUN_DATE or --vars '{run_date: YYYY-MM-DD}', default today in UTC. #}
{% macro lake_run_date() -%}
    {{ return(lake_setting('run_date', 'LAKEHOUSE_RUN_DATE', modules.datetime.datetime.utcnow().strftime('%Y-%m-%d')) | string) }}
{%- endmacro %}

{# The file format of the day's partitions: LAKEHOUSE_FORMAT or --vars '{lake_format: csv}', default parquet. #}
{% macro lake_format() -%}
    {{ return(lake_setting('lake_format', 'LAKEHOUSE_FORMAT', 'parquet')) }}
{%- endmacro %}

{# The lake key of a source table's partition file of the run date. #}
{% macro lake_source_key(node) -%}
    {{ return(lake_partition_dir(node.meta['lake_folder'], node.identifier) ~ '/' ~ node.identifier ~ '.' ~ lake_format()) }}
{%- endmacro %}

{#
    The lake root: LAKEHOUSE_DATA when it is s3://bucket/prefix (s3a://bucket/prefix for Spark's
    S3 file system); else, on DuckDB, the folder the profile gives it as its file_search_path
    (LAKEHOUSE_DATA, or data/ beside profiles.yml), so local lake paths are relative to it,
    whatever folder dbt was started from, and on Spark that folder itself.
#}
{% macro lake_root() -%}
    {% set url = env_var('LAKEHOUSE_DATA', '').rstrip('/') %}
    {% if url.startswith('s3://') %}
        {{ return(('s3a://' ~ url[5:]) if target.type == 'spark' else url) }}
    {% endif %}
    {{ return(env_var('LAKEHOUSE_DATA', flags.PROFILES_DIR ~ '/data') if target.type == 'spark'
        else target.settings['file_search_path']) }}
{%- endmacro %}

{# Where DuckDB finds a lake key: below the bucket's prefix, or relative to the local lake root. #}
{% macro lake_path(key) -%}
    {{ return(lake_root() ~ '/' ~ key if lake_root().startswith('s3://') or target.type == 'spark' else key) }}
{%- endmacro %}

{% macro lake_quote(identifier) -%}
    "{{ identifier | replace('"', '""') }}"
{%- endmacro %}

{# The lake key of a partition's folder: of the run date, or of `date`. #}
{% macro lake_partition_dir(source_name, table_name, date=none) -%}
    {{ source_name }}/{{ table_name }}/{{ date or lake_run_date() }}
{%- endmacro %}

{# Parse the JSON files matching a glob of lake keys; missing files give an empty list. #}
{% macro lake_read_json_files(pattern) %}
    {% set pattern = lake_path(pattern) %}
    {% set any_file = run_query("select count(*) from glob(" ~ lake_sql_string(pattern) ~ ")").columns[0].values()[0] %}
    {% set found = run_query(
        "select filename, content from read_text(" ~ lake_sql_string(pattern) ~ ") order by filename"
    ) if any_file else none %}
    {% set parsed = [] %}
    {% for row in (found.rows if found else []) %}
        {% do parsed.append(fromjson(row[1])) %}
    {% endfor %}
    {{ return(parsed) }}
{% endmacro %}

{# The ledger entries of the run date, by step name. #}
{% macro lake_ledger() %}
    {% set entries = {} %}
    {% for entry in adapter.dispatch('lake_ledger_entries')() %}
        {% do entries.update({entry['step']: entry}) %}
    {% endfor %}
    {{ return(entries) }}
{% endmacro %}

{% macro default__lake_ledger_entries() %}
    {{ return(lake_read_json_files('_ledger/' ~ lake_run_date() ~ '/*.json')) }}
{% endmacro %}

{#
    Spark fails on a path or glob that matches nothing, and reads no file whose name starts
    with "_" (the partitions' _manifest.json): it lists the ledger files of every day, whose
    folder is there once anything was extracted, then reads the run date's.
#}
{% macro spark__lake_ledger_entries() %}
    {% set day = '/_ledger/' ~ lake_run_date() ~ '/' %}
    {% set found = run_query("select cast(content as string) from binaryFile.`" ~ lake_path('_ledger/*/*.json')
        ~ "` where path like " ~ lake_sql_string('%' ~ day ~ '%') ~ " order by path") %}
    {% set parsed = [] %}
    {% for row in found.rows %}
        {% do parsed.append(fromjson(row[0])) %}
    {% endfor %}
    {{ return(parsed) }}
{% endmacro %}

{# A read_parquet/read_csv call over one partition's file (of the manifest's day), typed by its manifest. #}
{% macro lake_read_partition(manifest) -%}
    {%- set path = lake_path(lake_partition_dir(manifest['source'], manifest['table'], manifest['date']) ~ '/' ~ manifest['file']) -%}
    {%- if manifest['format'] == 'parquet' -%}
        read_parquet({{ lake_sql_string(path) }})
    {%- else -%}
        read_csv({{ lake_sql_string(path) }}, header = true, auto_detect = false, columns = {
            {%- for column in manifest['columns'] -%}
                {{ lake_sql_string(column['name']) }}: {{ lake_sql_string(column['type']) }}{{ ", " if not loop.last }}
            {%- endfor -%}
        })
    {%- endif -%}
{%- endmacro %}

{# The type of text columns: varchar, except on Spark, whose varchar needs a length. #}
{% macro lake_text_type() -%}
    {{ return('string' if target.type == 'spark' else 'varchar') }}
{%- endmacro %}
