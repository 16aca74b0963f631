{#
    Where Spark writes a table: the folder a managed table would have
    (<warehouse>/<schema>.db/<name>, which extract/spark.py reads), as an external table.
    A build killed while writing a managed table leaves a folder that Spark then refuses
    to create the table over ([LOCATION_ALREADY_EXISTS]), so every later build would fail;
    an external table's CTAS overwrites it (spark.sql.legacy.allowNonEmptyLocationInCTAS).
#}
{% macro spark__location_clause() %}
    {% set warehouse = run_query('set spark.sql.warehouse.dir').columns[1].values()[0] %}
    location {{ lake_sql_string(warehouse ~ '/' ~ model['schema'] ~ '.db/' ~ model['alias']) }}
{% endmacro %}
