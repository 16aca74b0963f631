{#
    Where a test reads: a test of a table in the warehouse runs inside Postgres (on
    dbt-duckdb through postgres_query), so no row crosses the scanner; a test of a
    staging view runs where the view is. Only the few rows the test returns travel.
#}

{# Whether dbt-duckdb reads `relation` from the attached warehouse. #}
{% macro lake_in_warehouse(relation) %}
    {{ return(target.type == 'duckdb' and relation.database == lakehouse_database()) }}
{% endmacro %}

{# How the engine that runs the test names `relation`: inside Postgres, without DuckDB's database. #}
{% macro lake_test_name(relation) %}
    {{ return(relation.include(database=False) if lake_in_warehouse(relation) else relation) }}
{% endmacro %}

{# `sql`, a query over `relation` written with lake_test_name, as a table expression run where `relation` is. #}
{% macro lake_test_query(relation, sql) %}
    {{ return(lakehouse_warehouse_query(sql) if lake_in_warehouse(relation) else "(" ~ sql ~ ") as found") }}
{% endmacro %}
