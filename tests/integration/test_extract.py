"""Step 1 on the real Northwind: every table in the lake, row counts and types equal to the source."""

from __future__ import annotations

import duckdb
from helpers import query

from extract import ledger, pipeline
from extract.lake import partition_file, verify
from extract.source import load_dump

DATE = "2024-01-15"

# The PostgreSQL type DuckDB reads each source type as, in the Parquet file.
LAKE_TYPES = {
    "smallint": "SMALLINT",
    "integer": "INTEGER",
    "real": "FLOAT",
    "date": "DATE",
    "text": "VARCHAR",
    "bytea": "BLOB",
    "bpchar": "VARCHAR",
}


def test_every_table_lands_with_its_rows_and_types(settings, northwind_sql, order_details_csv):
    load_dump(settings.dsn("source"), northwind_sql)
    pipeline.extract(settings, DATE, csv_path=order_details_csv)

    source = settings.dsn("source")
    catalog = query(
        source,
        """
        select c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
        from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind = 'r' and a.attnum > 0 and not a.attisdropped
        order by c.relname, a.attnum""",
    )
    tables = sorted({table for table, _, _ in catalog})
    assert len(tables) == 13
    con = duckdb.connect()
    for table in tables:
        manifest = verify(settings.lake, "postgres", table, DATE)
        (count,) = query(source, f'select count(*) from "{table}"')[0]
        assert manifest.rows == count, table
        path = settings.data_dir / partition_file("postgres", table, DATE)
        assert con.execute(f"select count(*) from read_parquet('{path}')").fetchone()[0] == count
        expected = [(column, kind) for t, column, kind in catalog if t == table]
        assert [(c["name"], c["source_type"]) for c in manifest.columns] == expected
        for column in manifest.columns:
            base = column["source_type"].split("(")[0].replace("character varying", "VARCHAR")
            assert LAKE_TYPES.get(base, base) == column["type"], (table, column)

    # Empty tables still give a file with their columns.
    empty = settings.data_dir / partition_file("postgres", "customer_demographics", DATE)
    assert con.execute(f"select count(*) from read_parquet('{empty}')").fetchone()[0] == 0
    assert [row[0] for row in con.execute(f"describe select * from read_parquet('{empty}')").fetchall()] == [
        "customer_type_id",
        "customer_desc",
    ]

    # bytea, real and NULLs come through as they are in the source.
    categories = settings.data_dir / partition_file("postgres", "categories", DATE)
    lake_pictures = con.execute(f"select picture from read_parquet('{categories}') order by category_id").fetchall()
    assert lake_pictures == query(source, "select picture from categories order by category_id")
    products = settings.data_dir / partition_file("postgres", "products", DATE)
    assert con.execute(f"select sum(unit_price)::decimal(10,2) from read_parquet('{products}')").fetchone() == tuple(
        query(source, "select sum(unit_price)::numeric(10,2) from products")[0]
    )
    orders = settings.data_dir / partition_file("postgres", "orders", DATE)
    assert con.execute(f"select count(*) from read_parquet('{orders}') where ship_region is null").fetchone() == tuple(
        query(source, "select count(*) from orders where ship_region is null")[0]
    )

    statuses = {entry["step"]: entry["status"] for entry in ledger.read(settings.lake, DATE)}
    assert statuses == {"extract_postgres": "success", "extract_csv": "success"}


def test_a_table_added_to_the_source_appears_without_code_change(settings, northwind_sql, order_details_csv):
    load_dump(settings.dsn("source"), northwind_sql)
    query(settings.dsn("source"), 'create table "Weird Table" (id int primary key, "Select" text)')
    query(settings.dsn("source"), """insert into "Weird Table" values (1, 'a'), (2, null)""")
    pipeline.extract(settings, DATE, csv_path=order_details_csv)
    assert verify(settings.lake, "postgres", "Weird Table", DATE).rows == 2
