{#
    Publishing the marts Spark built (`make load TARGET=spark`, extract/spark.py). Spark
    cannot write into PostgreSQL, so each of its marts lands in the lake as a partition of
    source "spark" with a manifest. The lakehouse build then runs with
    LAKEHOUSE_MARTS_FROM=spark: every mart is filled from its partition instead of being
    computed, once the file matches its manifest, and reconciled against it (rows, sums);
    then keyed, tested and published with the raw copy, as on any day.
#}

{# The manifest of the run date's Spark partition of this mart, or none when marts are computed here. #}
{% macro lakehouse_spark_mart() %}
    {% if target.type != 'duckdb' or lake_setting('marts_from', 'LAKEHOUSE_MARTS_FROM', 'duckdb') != 'spark' %}
        {{ return(none) }}
    {% endif %}
    {% set folder = lake_partition_dir('spark', this.identifier) %}
    {% set found = lake_read_json_files(folder ~ '/_manifest.json') %}
    {% if not found %}
        {{ exceptions.raise_compiler_error('no Spark partition of ' ~ this.identifier ~ ' in ' ~ lake_root() ~ '/'
            ~ folder ~ ': run make load TARGET=spark DATE=' ~ lake_run_date()) }}
    {% endif %}
    {% set problems = lake_partition_problems(found[0]) %}
    {% if problems %}
        {{ exceptions.raise_compiler_error('step 2 (load) refused for ' ~ lake_run_date() ~ ': ' ~ problems | join('; ')) }}
    {% endif %}
    {{ return(found[0]) }}
{% endmacro %}
