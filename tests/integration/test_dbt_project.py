"""The dbt project: two engines with one answer, every model and column described, docs in a browser."""

from __future__ import annotations

import json

import pytest
from helpers import TARGET_DIR, browse, docs_served, fetch, query

from extract import pipeline
from extract.config import REPO_ROOT
from extract.dbt import run_dbt, run_settings
from extract.source import load_dump

DATE = "2024-01-15"
MARTS = ("order_lines", "orders")


@pytest.fixture()
def built(settings, northwind_sql, order_details_csv):
    """The real Northwind extracted and built on the default (lakehouse) target."""
    load_dump(settings.dsn("source"), northwind_sql)
    pipeline.extract(settings, DATE, csv_path=order_details_csv)
    pipeline.load(settings, DATE)
    return settings


def _primary_key(dsn: str, relation: str) -> list[str]:
    return [
        name
        for (name,) in query(
            dsn,
            "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid "
            "and a.attnum = any(i.indkey) where i.indrelid = %s::regclass and i.indisprimary order by a.attname",
            (relation,),
        )
    ]


def test_both_engines_build_the_same_marts_with_real_primary_keys(built):
    pipeline.load(built, DATE, target="postgres")
    warehouse = built.dsn("warehouse")
    for mart in MARTS:
        lakehouse, postgres = f"marts.{mart}", f"postgres_marts.{mart}"
        assert query(warehouse, f"select count(*) from {lakehouse}") == query(
            warehouse, f"select count(*) from {postgres}"
        )
        assert query(warehouse, f"select * from {lakehouse} except all select * from {postgres}") == []
        assert query(warehouse, f"select * from {postgres} except all select * from {lakehouse}") == []
    assert query(warehouse, "select count(*) from postgres_marts.order_lines") == [(2155,)]
    assert query(warehouse, "select sum(line_count) from postgres_marts.orders") == [(2155,)]
    for schema in ("marts", "postgres_marts"):
        assert _primary_key(warehouse, f"{schema}.order_lines") == ["order_id", "product_id"]
        assert _primary_key(warehouse, f"{schema}.orders") == ["order_id"]
    views = query(warehouse, "select count(*) from information_schema.views where table_schema = 'postgres_staging'")
    assert views == [(14,)]


def test_a_partial_build_publishes_nothing(built, capsys):
    warehouse = built.dsn("warehouse")
    before = query(warehouse, "select count(*) from marts.order_lines")
    run_dbt(built, "build", "--select", "staging", "--indirect-selection", "cautious", run=run_settings(DATE))
    assert "warehouse NOT published (2 models and 10 tests did not run or did not pass)" in capsys.readouterr().out
    assert query(warehouse, "select count(*) from marts.order_lines") == before == [(2155,)]
    assert query(warehouse, "select count(*) from marts.orders") == [(830,)]


def test_dbt_test_checks_the_warehouse_without_reloading_it(built):
    warehouse = built.dsn("warehouse")
    before = query(warehouse, "select count(*) from raw.orders")
    run_dbt(built, "test", run=run_settings("2099-01-01"))  # a day never extracted: no gate, no copy
    assert query(warehouse, "select count(*) from raw.orders") == before
    assert query(warehouse, "select obj_description('marts'::regnamespace)") == [(f"run_date {DATE}",)]


def test_every_model_and_column_is_described(built):
    run_dbt(built, "docs", "generate", run=run_settings(DATE))
    manifest = json.loads((TARGET_DIR / "manifest.json").read_text())
    catalog = json.loads((TARGET_DIR / "catalog.json").read_text())
    models = {key: node for key, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    assert len(models) == 17  # 14 staging, 1 intermediate, 2 marts
    undocumented = []
    for key, node in models.items():
        if not node["description"].strip():
            undocumented.append(key)
        actual = catalog["nodes"].get(key, {}).get("columns") or node["columns"]  # ephemeral: not in the catalog
        for column in actual:
            if not node["columns"].get(column.lower(), {}).get("description", "").strip():
                undocumented.append(f"{key}.{column}")
    for key, source in manifest["sources"].items():
        if not source["description"].strip():
            undocumented.append(key)
    # Every history table the load published, and each of its columns, as the docs' catalog finds them.
    history = query(
        built.dsn("warehouse"),
        "select table_name, column_name from information_schema.columns where table_schema = 'history'",
    )
    assert {table for table, _ in history} >= {"customers", "order_details"}
    for table, column in history:
        key = f"source.lakehouse.history.{table}"
        described = manifest["sources"].get(key, {}).get("columns", {}).get(column, {}).get("description", "")
        if not described.strip() or column not in catalog["sources"].get(key, {}).get("columns", {}):
            undocumented.append(f"{key}.{column}")
    assert undocumented == []


@pytest.fixture()
def docs_site(loaded, lake_env):
    """The docs of a demo day built into the warehouse, served by `make docs`."""
    with docs_served(lake_env, DATE) as url:
        yield url


def test_docs_site_serves_the_headline_mart_with_its_columns_and_lineage(docs_site):
    assert b"dbt" in fetch(docs_site + "/")
    manifest = json.loads(fetch(docs_site + "/manifest.json"))
    catalog = json.loads(fetch(docs_site + "/catalog.json"))
    mart = manifest["nodes"]["model.lakehouse.order_lines"]
    assert "one row per order line" in mart["description"]
    assert (mart["schema"], catalog["nodes"]["model.lakehouse.order_lines"]["metadata"]["schema"]) == ("marts", "marts")
    columns = catalog["nodes"]["model.lakehouse.order_lines"]["columns"]
    assert {"order_id", "product_id", "customer_name", "product_name", "line_total"} <= set(columns)
    parents, frontier = set(), ["model.lakehouse.order_lines"]
    while frontier:
        for parent in manifest["parent_map"].get(frontier.pop(), []):
            parents.add(parent)
            frontier.append(parent)
    assert "model.lakehouse.int_order_lines_joined_to_orders" in parents
    assert {"source.lakehouse.northwind.orders", "source.lakehouse.csv.order_details"} <= parents


@pytest.mark.browser
def test_docs_page_in_a_browser(docs_site, tmp_path):
    screenshot = REPO_ROOT / "data" / "docs" / "order_lines.png"
    dom = browse(docs_site + "/#!/model/model.lakehouse.order_lines", screenshot, tmp_path, height=1400)
    assert "order_lines" in dom
    for column in ("order_id", "product_id", "customer_name", "product_name", "line_total"):
        assert column in dom, column
    assert "int_order_lines_joined_to_orders" in dom  # what the mart depends on
    assert "one row per order line" in dom
    assert screenshot.stat().st_size > 10_000
