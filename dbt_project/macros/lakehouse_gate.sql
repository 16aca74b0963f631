{#
    Step 2 starts only when step 1 succeeded for the run date, every partition it
    wrote is whole (its manifest is there and the file's size and SHA-256 match it), and
    every source table the selected models read has one (lake_sources_read).
    Runs as an on-run-start hook of `dbt build` and `dbt run`, so a bare `dbt build` is
    gated too; `dbt test` and `dbt docs` leave the warehouse alone.
#}
{% macro lakehouse_gate() %}
    {% if target.type in ['duckdb', 'spark'] and lakehouse_writing() %}
        {% set problems = [] %}
        {% set ledger = lake_ledger() %}
        {% for step in ['extract_postgres', 'extract_csv'] %}
            {% set entry = ledger.get(step) %}
            {% if entry is none %}
                {% do problems.append(step ~ ' has not run for ' ~ lake_run_date() ~ ' (run: make extract DATE=' ~ lake_run_date() ~ ')') %}
            {% elif entry['status'] == 'running' %}
                {% do problems.append(step ~ ' is running or was interrupted (started ' ~ entry['started_at'] ~ ')') %}
            {% elif entry['status'] != 'success' %}
                {% do problems.append(step ~ ' is ' ~ entry['status'] ~ ': ' ~ (entry.get('error') or '')) %}
            {% else %}
                {% do problems.extend(adapter.dispatch('lake_partitions_problems')(entry['details']['partitions'])) %}
            {% endif %}
        {% endfor %}
        {% set tables = [] %}
        {% for entry in ledger.values() if entry['status'] == 'success' %}
            {% for manifest in entry['details']['partitions'] %}
                {% if manifest['table'] in tables %}
                    {% do problems.append('two sources have a table named ' ~ manifest['table'] ~ ': rename one') %}
                {% endif %}
                {% do tables.append(manifest['table']) %}
            {% endfor %}
        {% endfor %}
        {% set unextracted = lake_unextracted(ledger) %}
        {% if unextracted %}
            {% do problems.append('no partition of ' ~ unextracted | join(', ') ~ ' for ' ~ lake_run_date()
                ~ ', which the selected models read (run: make extract DATE=' ~ lake_run_date() ~ ')') %}
        {% endif %}
        {% if problems %}
            {{ exceptions.raise_compiler_error(
                "step 2 (load) refused for " ~ lake_run_date() ~ ": " ~ problems | join("; ")
            ) }}
        {% endif %}
    {% endif %}
{% endmacro %}

{#
    The lake partitions (source/table) the selected nodes read from the run date's files: the
    sources each one reads, directly or through the ephemeral models compiled into it. A model
    left out of the selection is read as it was built, from the day it was built for.
#}
{% macro lake_sources_read() %}
    {% set read = [] %}
    {% set nodes = selected_resources | list %}
    {% for unique_id in nodes %}
        {% for parent in graph.nodes.get(unique_id, {}).get('depends_on', {}).get('nodes', []) %}
            {% set source = graph.sources.get(parent) %}
            {% if source and source.meta.get('lake_folder') %}
                {% do read.append(source.meta['lake_folder'] ~ '/' ~ source.identifier) %}
            {% elif parent not in nodes and graph.nodes.get(parent, {}).get('config', {}).get('materialized') == 'ephemeral' %}
                {% do nodes.append(parent) %}
            {% endif %}
        {% endfor %}
    {% endfor %}
    {{ return(read | unique | sort) }}
{% endmacro %}

{#
    The partitions the selected nodes read that the run date's ledger does not list, though the
    step 1 task that writes their folder (extract_<folder>) succeeded: one that did not is refused
    by its own name already.
#}
{% macro lake_unextracted(ledger) %}
    {% set listed = [] %}
    {% for entry in ledger.values() if entry['step'].startswith('extract_') and entry['status'] == 'success' %}
        {% for manifest in entry['details']['partitions'] %}
            {% do listed.append(manifest['source'] ~ '/' ~ manifest['table']) %}
        {% endfor %}
    {% endfor %}
    {% set missing = [] %}
    {% for key in lake_sources_read() if key not in listed %}
        {% if ledger.get('extract_' ~ key.split('/')[0], {}).get('status') == 'success' %}
            {% do missing.append(key) %}
        {% endif %}
    {% endfor %}
    {{ return(missing) }}
{% endmacro %}

{#
    What is wrong with the partitions listed in the ledger (empty when they are whole): each
    one's manifest is there and equal to the ledger's, its file's size and SHA-256 match it.
    Three reads for all of them: one listing of the day's folders, the manifests, the files.
#}
{% macro default__lake_partitions_problems(listed) %}
    {% if not listed %}
        {{ return([]) }}
    {% endif %}
    {% set listings = [] %}
    {% for source in listed | map(attribute='source') | unique %}
        {% do listings.append("select file from glob(" ~ lake_sql_string(lake_path(source ~ '/*/' ~ lake_run_date() ~ '/*')) ~ ")") %}
    {% endfor %}
    {% set present = lake_keys(run_query(listings | join(' union all ')).columns[0].values()) %}
    {% set manifests = {} %}
    {% set paths = [] %}
    {% for entry in listed if lake_partition_dir(entry['source'], entry['table']) ~ '/_manifest.json' in present %}
        {% do paths.append(lake_sql_string(lake_path(lake_partition_dir(entry['source'], entry['table']) ~ '/_manifest.json'))) %}
    {% endfor %}
    {% if paths %}
        {% for row in run_query("select filename, content from read_text([" ~ paths | join(', ') ~ "])").rows %}
            {% do manifests.update({lake_keys([row[0]])[0].rsplit('/', 1)[0]: fromjson(row[1])}) %}
        {% endfor %}
    {% endif %}
    {% set files = {} %}
    {% set paths = [] %}
    {% for folder, manifest in manifests.items() if folder ~ '/' ~ manifest['file'] in present %}
        {% do paths.append(lake_sql_string(lake_path(folder ~ '/' ~ manifest['file']))) %}
    {% endfor %}
    {% if paths %}
        {% for row in run_query("select filename, size, sha256(content) from read_blob([" ~ paths | join(', ') ~ "])").rows %}
            {% do files.update({lake_keys([row[0]])[0]: row}) %}
        {% endfor %}
    {% endif %}
    {% set problems = [] %}
    {% for entry in listed %}
        {% do problems.extend(lake_partition_verdict(entry, manifests, files)) %}
    {% endfor %}
    {{ return(problems) }}
{% endmacro %}

{# The lake keys (source/table/date/file) of paths as DuckDB lists them, relative or absolute, local or on S3. #}
{% macro lake_keys(paths) %}
    {% set keys = [] %}
    {% for path in paths %}
        {% do keys.append(path.split('/')[-4:] | join('/')) %}
    {% endfor %}
    {{ return(keys) }}
{% endmacro %}

{# What is wrong with one listed partition, given the manifests and files found, by folder and by key. #}
{% macro lake_partition_verdict(listed, manifests, files) %}
    {% set name = listed['source'] ~ '/' ~ listed['table'] %}
    {% set folder = lake_partition_dir(listed['source'], listed['table']) %}
    {% set manifest = manifests.get(folder) %}
    {% if manifest is none %}
        {{ return([name ~ ': no manifest in ' ~ lake_root() ~ '/' ~ folder]) }}
    {% endif %}
    {% set path = folder ~ '/' ~ manifest['file'] %}
    {% set found = files.get(path) %}
    {% if found is none %}
        {{ return([name ~ ': data file ' ~ lake_root() ~ '/' ~ path ~ ' is missing']) }}
    {% elif found[1] != manifest['bytes'] or found[2] != manifest['sha256'] %}
        {{ return([name ~ ': ' ~ lake_root() ~ '/' ~ path ~ ' does not match its manifest (size or checksum differ)']) }}
    {% elif manifest['sha256'] != listed['sha256'] %}
        {{ return([name ~ ': manifest differs from the one step 1 recorded (rerun step 1)']) }}
    {% endif %}
    {{ return([]) }}
{% endmacro %}

{#
    On Spark, which reads no file named "_manifest.json", each data file is checked against
    the manifest step 1 recorded in the ledger: its size and SHA-256, all files in one scan
    (a glob of their paths, which lists those that are there).
#}
{% macro spark__lake_partitions_problems(listed) %}
    {% set paths = {} %}
    {% for manifest in listed %}
        {% do paths.update({lake_partition_dir(manifest['source'], manifest['table']) ~ '/' ~ manifest['file']: manifest}) %}
    {% endfor %}
    {% set found = {} %}
    {% if paths %}
        {% set scan = run_query("select path, length, sha2(content, 256) from binaryFile.`"
            ~ lake_path('{' ~ paths.keys() | join(',') ~ '}') ~ "`") %}
        {% for row in scan.rows %}
            {% do found.update({row[0].split('/')[-4:] | join('/'): row}) %}  {# source/table/date/file #}
        {% endfor %}
    {% endif %}
    {% set problems = [] %}
    {% for path, manifest in paths.items() %}
        {% set name = manifest['source'] ~ '/' ~ manifest['table'] %}
        {% if path not in found %}
            {% do problems.append(name ~ ': data file ' ~ lake_root() ~ '/' ~ path ~ ' is missing') %}
        {% elif found[path][1] != manifest['bytes'] or found[path][2] != manifest['sha256'] %}
            {% do problems.append(name ~ ': ' ~ lake_root() ~ '/' ~ path ~ ' does not match its manifest (size or checksum differ)') %}
        {% endif %}
    {% endfor %}
    {{ return(problems) }}
{% endmacro %}

{# What is wrong with one partition listed in the ledger (empty when it is whole). #}
{% macro lake_partition_problems(listed) %}
    {{ return(default__lake_partitions_problems([listed])) }}
{% endmacro %}
