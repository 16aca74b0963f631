"""Step 2: dbt build into the warehouse, its key tests, and its refusal of incomplete partitions."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import TARGET_DIR, cli, query, run_real_northwind

from extract import ledger, pipeline
from extract.config import REPO_ROOT
from extract.dbt import DbtError, dbt_env, dbt_test_counts, run_dbt, run_settings
from extract.lake import partition_file
from extract.source import load_dump

DATE = "2024-01-15"


@pytest.fixture()
def extracted(settings, northwind_sql, order_details_csv):
    """The real Northwind and its CSV, extracted for DATE."""
    load_dump(settings.dsn("source"), northwind_sql)
    pipeline.extract(settings, DATE, csv_path=order_details_csv)
    return settings


def test_build_loads_every_table_with_source_types_and_passes_key_tests(extracted):
    settings = extracted
    pipeline.load(settings, DATE)
    results = dbt_test_counts()
    assert results.get("pass", 0) >= 15 and set(results) == {"pass"}

    types_sql = """
        select table_name, column_name, format_type(a.atttypid, a.atttypmod)
        from information_schema.columns c
        join pg_attribute a on a.attrelid = format('%%I.%%I', c.table_schema, c.table_name)::regclass
                           and a.attname = c.column_name
        where table_schema = %s order by table_name, ordinal_position"""
    source_types = query(settings.dsn("source"), types_sql, ("public",))
    raw_types = [row for row in query(settings.dsn("warehouse"), types_sql, ("raw",)) if row[0] != "order_details"]
    assert raw_types == source_types
    for table in {t for t, _, _ in source_types}:
        assert query(settings.dsn("warehouse"), f'select count(*) from raw."{table}"') == query(
            settings.dsn("source"), f'select count(*) from "{table}"'
        )
    assert query(settings.dsn("warehouse"), "select count(*), count(distinct order_id) from marts.order_lines") == [
        (2155, 830)
    ]


def _refusal(settings, capsys) -> str:
    with pytest.raises(pipeline.StepFailed) as failure:
        pipeline.load(settings, DATE)
    assert failure.value.exit_code == 12
    return str(failure.value) + capsys.readouterr().out


def test_missing_partition_is_refused_by_name(extracted, capsys):
    (extracted.data_dir / partition_file("postgres", "orders", DATE)).unlink()
    message = _refusal(extracted, capsys)
    assert "refused" in message and "postgres/orders" in message and "missing" in message


def test_corrupted_partition_is_refused_by_name(extracted, capsys):
    path = extracted.data_dir / partition_file("csv", "order_details", DATE)
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    message = _refusal(extracted, capsys)
    assert "csv/order_details" in message and "does not match its manifest" in message


def test_failed_extract_step_is_refused(extracted, tmp_path, capsys):
    with pytest.raises(pipeline.StepFailed):
        pipeline.extract(extracted, DATE, csv_path=tmp_path / "missing.csv")
    assert "extract_csv is failed" in _refusal(extracted, capsys)


def test_bare_dbt_build_is_refused_too(extracted):
    (extracted.data_dir / partition_file("postgres", "products", DATE)).unlink()
    result = subprocess.run(
        [
            str(Path(REPO_ROOT / ".venv/bin/dbt")),
            "build",
            "--project-dir",
            "dbt_project",
            "--profiles-dir",
            ".",
            "--vars",
            f"{{run_date: {DATE}}}",
        ],
        cwd=REPO_ROOT,
        env=dbt_env(extracted),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "step 2 (load) refused for 2024-01-15" in result.stdout and "postgres/products" in result.stdout


def test_date_never_extracted_is_refused_with_the_command_to_run(settings, capsys):
    message = _refusal(settings, capsys)
    assert "extract_postgres has not run for 2024-01-15" in message and "make extract DATE=2024-01-15" in message


def test_bad_keys_fail_the_tests_by_name_and_keep_the_published_tables(
    settings, northwind_sql, order_details_csv, tmp_path, lake_env
):
    run_real_northwind(settings, lake_env, northwind_sql, order_details_csv, DATE)
    published = query(settings.dsn("warehouse"), "select count(*), sum(line_total) from marts.order_lines")

    bad = tmp_path / "order_details.csv"
    lines = order_details_csv.read_text().splitlines()
    bad.write_text("\n".join(lines + [lines[1], "99999,11,14,1,0", ",11,14,1,0"]) + "\n")
    assert cli(lake_env, "extract", "--date", "2024-01-16", "--csv", str(bad)).returncode == 0
    result = cli(lake_env, "load", "--date", "2024-01-16")
    assert result.returncode == 12
    assert "step load failed" in result.stderr
    # A duplicated line and a line without its order: both break the composite key.
    assert "test primary_key_stg_csv__order_details_order_id__product_id failed on 2 row(s)" in result.stderr
    assert "(order_id=10248, product_id=11, n_rows=2)" in result.stderr
    assert "(order_id=None, product_id=11, n_rows=1)" in result.stderr
    assert "test relationships_stg_csv__order_details_order_id__order_id__ref_stg_northwind__orders_ failed" in (
        result.stderr
    )
    assert "(from_field=99999, n_rows=1)" in result.stderr
    assert ledger.read(settings.lake, "2024-01-16")[-1]["status"] == "failed"
    # Nothing of the bad day is published: readers keep the good day.
    assert query(settings.dsn("warehouse"), "select count(*), sum(line_total) from marts.order_lines") == published
    assert query(settings.dsn("warehouse"), "select count(*) from raw.order_details") == [(2155,)]


def test_a_csv_lake_builds_the_same_mart(settings, northwind_sql, order_details_csv):
    load_dump(settings.dsn("source"), northwind_sql)
    pipeline.extract(settings, DATE, csv_path=order_details_csv, fmt="csv")
    assert (settings.data_dir / partition_file("postgres", "orders", DATE, "csv")).exists()
    assert not (settings.data_dir / partition_file("postgres", "orders", DATE)).exists()
    pipeline.load(settings, DATE)
    warehouse = settings.dsn("warehouse")
    assert query(warehouse, "select count(*), count(distinct order_id), sum(line_total) from marts.order_lines") == [
        (2155, 830, query(warehouse, "select sum(unit_price * quantity * (1 - discount)) from raw.order_details")[0][0])
    ]


def test_a_mart_key_is_tested_through_its_constraint_and_by_its_rows_without_one(loaded):
    demo = loaded
    run_dbt(demo, "test", "--select", "primary_key_orders_order_id", run=run_settings(DATE))
    compiled = next((TARGET_DIR / "compiled").rglob("primary_key_orders_order_id.sql"))
    assert "enforced_primary_key" in compiled.read_text()  # the constraint answers: no second pass over the rows
    assert ledger.read(demo.lake, DATE)[-1]["phases"]["tests"] > 0

    warehouse = demo.dsn("warehouse")
    query(warehouse, "alter table marts.orders drop constraint orders_pkey")
    query(warehouse, "insert into marts.orders select * from marts.orders order by order_id limit 1")
    with pytest.raises(DbtError, match="dbt test failed"):
        run_dbt(demo, "test", "--select", "primary_key_orders_order_id", run=run_settings(DATE))
    assert "enforced_primary_key" not in compiled.read_text()
    assert dbt_test_counts() == {"fail": 1}


def test_relationship_tests_count_orphan_rows_in_the_warehouse_and_across_engines(loaded):
    demo = loaded
    query(
        demo.dsn("warehouse"),
        "insert into marts.order_lines (order_id, product_id, unit_price, quantity, discount, line_total) "
        "values (999999, 999998, 1, 1, 0, 1), (999999, 999999, 1, 1, 0, 1)",
    )
    with pytest.raises(DbtError, match="dbt test failed"):
        run_dbt(demo, "test", "--select", "order_lines", run=run_settings(DATE))
    results = json.loads((TARGET_DIR / "run_results.json").read_text())["results"]
    failed = {r["unique_id"].split(".")[2]: r["failures"] for r in results if r["status"] == "fail"}
    assert failed == {
        # both marts in the warehouse: one orphan order, on two rows
        "relationships_order_lines_order_id__order_id__ref_orders_": 2,
        # order lines in the warehouse, products a DuckDB view over the lake: two orphan products
        "relationships_order_lines_product_id__product_id__ref_stg_northwind__products_": 2,
    }
