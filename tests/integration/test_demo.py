"""The demo generator: Northwind's tables, names and types, its sizes at SF 1, the same data every time."""

from __future__ import annotations

import csv
import hashlib

from helpers import query

from extract import duck
from extract.demo import generate
from extract.postgres import SOURCE_ALIAS, attach
from extract.source import load_dump

COLUMNS_SQL = """
    select c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
    from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind = 'r' and a.attnum > 0 and not a.attisdropped
    order by c.relname, a.attnum"""
SIZES = {
    "categories": 8,
    "customers": 91,
    "employees": 9,
    "employee_territories": 49,
    "orders": 830,
    "products": 77,
    "region": 4,
    "shippers": 6,
    "suppliers": 29,
    "territories": 53,
    "us_states": 51,
    "customer_customer_demo": 0,
    "customer_demographics": 0,
}


def _generate(settings, csv_path, scale=1.0):
    con = duck.connect()
    attach(con, settings.dsn("source"), SOURCE_ALIAS)
    return generate(con, SOURCE_ALIAS, csv_path, scale)


def _table_digest(dsn: str) -> str:
    digest = hashlib.sha256()
    for table in sorted(SIZES):
        for row in query(dsn, f"select * from {table} order by 1, 2"):
            digest.update(repr(row).encode())
    return digest.hexdigest()


def test_same_tables_columns_and_types_as_the_real_northwind(settings, lake_env, northwind_sql, tmp_path):
    _generate(settings, tmp_path / "order_details.csv")
    real = lake_env["WAREHOUSE_DSN"]  # an empty database of this test, used here for the real dump
    load_dump(real, northwind_sql)
    assert query(settings.dsn("source"), COLUMNS_SQL) == query(real, COLUMNS_SQL)


def test_scale_one_has_northwind_sizes_keys_and_shapes(settings, tmp_path):
    rows = _generate(settings, tmp_path / "order_details.csv")
    dsn = settings.dsn("source")
    for table, size in SIZES.items():
        assert query(dsn, f"select count(*) from {table}") == [(size,)], table
    assert 2000 <= rows["order_details"] <= 2300

    with open(tmp_path / "order_details.csv", newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert len(lines) == rows["order_details"]
    order_ids = {str(order_id) for (order_id,) in query(dsn, "select order_id from orders")}
    per_order: dict[str, set[str]] = {}
    for line in lines:
        assert line["order_id"] in order_ids
        assert 1 <= int(line["product_id"]) <= 77
        assert 0 <= float(line["discount"]) < 1 and int(line["quantity"]) > 0
        assert "e" not in line["unit_price"].lower()
        per_order.setdefault(line["order_id"], set()).add(line["product_id"])
    assert all(1 <= len(products) <= 5 for products in per_order.values())
    assert len(per_order) == 830
    assert sum(len(p) for p in per_order.values()) == len(lines)  # no product twice in an order

    # NULLs, bytea and real prices, as in the real data.
    assert query(dsn, "select count(*) > 0 from customers where region is null") == [(True,)]
    assert query(dsn, "select count(*) > 0 from orders where shipped_date is null") == [(True,)]
    assert query(dsn, "select bool_and(octet_length(picture) > 0) from categories") == [(True,)]
    assert query(dsn, "select count(*) from employees where reports_to is null") == [(1,)]
    assert query(dsn, "select bool_and(unit_price > 0) from products") == [(True,)]


def test_same_scale_gives_the_same_data(settings, tmp_path):
    _generate(settings, tmp_path / "first.csv")
    first = _table_digest(settings.dsn("source"))
    _generate(settings, tmp_path / "second.csv")
    assert _table_digest(settings.dsn("source")) == first
    assert (tmp_path / "first.csv").read_bytes() == (tmp_path / "second.csv").read_bytes()


def test_large_scale_widens_order_ids_past_smallint(settings, tmp_path):
    rows = _generate(settings, tmp_path / "order_details.csv", scale=40)
    assert rows["orders"] == 33200
    assert query(settings.dsn("source"), "select max(order_id) > 32767 from orders") == [(True,)]
