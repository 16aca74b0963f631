"""The whole pipeline on the real Northwind, as `make all` runs it."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

from helpers import demo_only, make, query

from extract.config import load_settings, redact

DATE = "2024-01-15"


def test_make_all_on_real_northwind(lake_env, northwind_sql, order_details_csv):
    # The source is a server of the user's (SOURCE_DSN), which make all only reads (and would refuse
    # to load NORTHWIND_SQL into): make seed loads the dump.
    into = redact(lake_env["SOURCE_DSN"])
    loaded = make(lake_env, "seed", f"NORTHWIND_SQL={northwind_sql}", f"SEED_INTO={into}")
    assert loaded.returncode == 0, loaded.stdout[-3000:] + loaded.stderr[-3000:]
    result = make(demo_only(lake_env), "all", f"ORDER_DETAILS_CSV={order_details_csv}", f"DATE={DATE}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "summary for 2024-01-15" in result.stdout

    settings = load_settings(lake_env)
    export = settings.data_dir / "exports" / DATE
    with open(export / "orders_with_details.csv", newline="") as handle:
        evidence = list(csv.DictReader(handle))
    with open(order_details_csv, newline="") as handle:
        source_lines = list(csv.DictReader(handle))

    # One evidence row per CSV line, each joined to its order, values as in the source.
    assert len(evidence) == len(source_lines) == 2155
    assert len({row["order_id"] for row in evidence}) == 830
    numeric = ("unit_price", "quantity", "discount")
    expected = {(r["order_id"], r["product_id"]): tuple(Decimal(r[c]) for c in numeric) for r in source_lines}
    got = {(r["order_id"], r["product_id"]): tuple(Decimal(r[c]) for c in numeric) for r in evidence}
    assert got == expected
    orders = dict(query(settings.dsn("source"), "select order_id::text, customer_id::text from orders"))
    dates = dict(query(settings.dsn("source"), "select order_id::text, order_date::text from orders"))
    for row in evidence:
        assert row["customer_id"] == orders[row["order_id"]]
        assert row["order_date"] == dates[row["order_id"]]
        price, quantity, discount = (Decimal(row[c]) for c in numeric)
        assert Decimal(row["line_total"]) == price * quantity * (1 - discount)
        assert row["product_name"]
    assert len(json.loads((export / "orders_with_details.json").read_text())) == 2155

    # All 13 tables and the CSV: in the lake for the date, and in the warehouse's raw schema.
    tables = {
        name
        for (name,) in query(
            settings.dsn("source"), "select table_name from information_schema.tables where table_schema = 'public'"
        )
    }
    assert len(tables) == 13
    for table in tables:
        assert (settings.data_dir / "postgres" / table / DATE / f"{table}.parquet").exists()
    assert (settings.data_dir / "csv" / "order_details" / DATE / "order_details.parquet").exists()
    raw = {
        name
        for (name,) in query(
            settings.dsn("warehouse"), "select table_name from information_schema.tables where table_schema = 'raw'"
        )
    }
    assert raw == tables | {"order_details"}
    assert Path(export / "orders_with_details.csv").stat().st_size > 0
