"""The writer-lock plugin finds the warehouse each dbt target writes, from dbt's own credentials."""

from __future__ import annotations

from types import SimpleNamespace as Fields

from psycopg2.extensions import parse_dsn

from extract.dbt_plugin import warehouse_dsn


def test_the_lakehouse_target_locks_the_database_it_attaches_as_warehouse():
    attached = [
        Fields(alias="other", type="postgres", path="dbname=elsewhere"),
        Fields(alias="warehouse", type="postgres", path="host=/tmp/socket dbname=wh"),
    ]
    assert warehouse_dsn(Fields(type="duckdb", attach=attached)) == "host=/tmp/socket dbname=wh"
    assert warehouse_dsn(Fields(type="duckdb", attach=None)) is None  # another project's plain DuckDB file


def test_the_postgres_target_locks_its_own_database_with_its_connection_settings():
    credentials = Fields(
        type="postgres",
        host="db.example",
        port=6432,
        user="owner",
        password="",
        database="wh",
        connect_timeout=10,
        sslmode="verify-full",
        sslcert=None,
        sslkey=None,
        sslrootcert="/etc/ca.pem",
    )
    assert parse_dsn(warehouse_dsn(credentials)) == {
        "host": "db.example",
        "port": "6432",
        "user": "owner",
        "dbname": "wh",
        "connect_timeout": "10",
        "sslmode": "verify-full",
        "sslrootcert": "/etc/ca.pem",
    }


def test_the_spark_target_writes_no_warehouse():
    assert warehouse_dsn(Fields(type="spark")) is None
