"""Bad and odd input: odd names, schema drift, bad CSV, reconciliation failures, secrets."""

from __future__ import annotations

import json

import pytest
from helpers import DBT_LOG, TARGET_DIR, cli, query

from extract import duck, ledger, pipeline
from extract.lake import partition_file, verify
from extract.postgres import SOURCE_ALIAS, _reconcile, attach
from extract.source import load_dump

DAY1, DAY2 = "2024-01-15", "2024-01-16"


@pytest.fixture()
def northwind(settings, northwind_sql):
    load_dump(settings.dsn("source"), northwind_sql)
    return settings


def test_odd_table_and_column_names_are_extracted_and_loaded(northwind, order_details_csv):
    source = northwind.dsn("source")
    query(source, 'create table "Order Lines" ("Select" int primary key, "Mixed Case" text, "quo""te" text)')
    query(source, """insert into "Order Lines" values (1, 'a', 'b"c'), (2, null, '')""")
    evil = 'x"; drop table orders; --'
    query(source, f'create table "{evil.replace(chr(34), chr(34) * 2)}" (id int)')
    query(source, f'insert into "{evil.replace(chr(34), chr(34) * 2)}" values (7)')
    pipeline.extract(northwind, DAY1, csv_path=order_details_csv)
    pipeline.load(northwind, DAY1)
    warehouse = northwind.dsn("warehouse")
    assert query(warehouse, 'select "Select", "Mixed Case", "quo""te" from raw."Order Lines" order by 1') == [
        (1, "a", 'b"c'),
        (2, None, ""),
    ]
    assert query(warehouse, f'select id from raw."{evil.replace(chr(34), chr(34) * 2)}"') == [(7,)]
    assert query(source, "select count(*) from orders") == [(830,)]
    assert query(warehouse, "select count(*) from raw.orders") == [(830,)]


def test_a_table_name_cannot_leave_the_lake(northwind, order_details_csv):
    query(northwind.dsn("source"), 'create table "../escape" (id int)')
    refused = (
        r"^step 1 refused, no source table written: \.\./escape cannot name a lake folder \(a slash, a leading dot"
    )
    with pytest.raises(pipeline.StepFailed, match=refused):
        pipeline.extract(northwind, DAY1, csv_path=order_details_csv)
    assert not (northwind.data_dir / "escape").exists()
    assert not (northwind.data_dir / "postgres" / "escape").exists()


def test_schema_drift_is_reported_and_dependent_models_name_the_column(northwind, lake_env, order_details_csv):
    assert cli(lake_env, "extract", "--date", DAY1, "--csv", str(order_details_csv)).returncode == 0
    source = northwind.dsn("source")
    query(source, "alter table orders add column priority smallint default 1")
    query(source, "alter table orders drop column ship_city")
    query(source, "alter table orders alter column freight type numeric(10, 2)")
    result = cli(lake_env, "extract", "--date", DAY2, "--csv", str(order_details_csv))
    assert result.returncode == 0
    since = "schema drift: postgres/orders since 2024-01-15"
    assert f"{since}: column priority added (smallint)" in result.stdout
    assert f"{since}: column ship_city dropped (was character varying(15))" in result.stdout
    assert f"{since}: column freight retyped real -> numeric(10,2)" in result.stdout
    assert "priority" in [c["name"] for c in verify(northwind.lake, "postgres", "orders", DAY2).columns]

    load = cli(lake_env, "load", "--date", DAY2)
    assert load.returncode == 12
    assert "ship_city" in load.stderr and "stg_northwind__orders" in load.stdout


def test_a_bad_csv_leaves_every_landed_partition_as_it_was(northwind, order_details_csv, tmp_path):
    pipeline.extract(northwind, DAY1, csv_path=order_details_csv)
    landed = (northwind.data_dir / partition_file("csv", "order_details", DAY1)).read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text(order_details_csv.read_text() + "10248,11,abc,1,0\n")
    for day in (DAY1, DAY2):
        with pytest.raises(pipeline.StepFailed, match=r"bad\.csv: line 2157: .*\"abc\""):
            pipeline.extract(northwind, day, csv_path=bad)
    assert (northwind.data_dir / partition_file("csv", "order_details", DAY1)).read_bytes() == landed
    assert not (northwind.data_dir / partition_file("csv", "order_details", DAY2)).parent.exists() or not list(
        (northwind.data_dir / partition_file("csv", "order_details", DAY2)).parent.iterdir()
    )
    assert {e["step"]: e["status"] for e in ledger.read(northwind.lake, DAY1)}["extract_csv"] == "failed"


def test_source_and_lake_disagreeing_is_refused_by_table(northwind):
    with duck.connect() as con:
        attach(con, northwind.dsn("source"), SOURCE_ALIAS, read_only=True)
        with pytest.raises(ValueError, match="reconciliation failed for orders: the source has 830 rows, the lake 829"):
            _reconcile(con, '"public"."orders"', "orders", 829, {})
        with pytest.raises(ValueError, match=r"reconciliation failed for orders\.order_id: sum in the source"):
            _reconcile(con, '"public"."orders"', "orders", 830, {"order_id": "1"})


def test_lake_and_warehouse_disagreeing_is_not_published(northwind, order_details_csv, capsys):
    pipeline.extract(northwind, DAY1, csv_path=order_details_csv)
    path = northwind.data_dir / "_ledger" / DAY1 / "extract_postgres.json"
    entry = json.loads(path.read_text())
    orders = next(p for p in entry["details"]["partitions"] if p["table"] == "orders")
    orders["checksums"]["order_id"] = "1"
    path.write_text(json.dumps(entry))
    with pytest.raises(pipeline.StepFailed):
        pipeline.load(northwind, DAY1)
    out = capsys.readouterr().out
    assert 'reconciliation failed for "raw__next"."orders": sum(order_id) is 1 in the lake' in out
    assert query(northwind.dsn("warehouse"), "select count(*) from pg_namespace where nspname = 'raw'") == [(0,)]


def test_passwords_appear_in_no_output(settings, lake_env, northwind_sql, order_details_csv):
    secret = "Pw-9f8e7d6c"
    env = dict(lake_env)
    for role in ("SOURCE_DSN", "WAREHOUSE_DSN"):
        env[role] = f"{env[role]} password={secret}"
    load_dump(settings.dsn("source"), northwind_sql)
    result = cli(env, "run", "--date", DAY1, "--csv", str(order_details_csv))
    assert result.returncode == 0, result.stderr
    failing = cli({**env, "SOURCE_DSN": env["SOURCE_DSN"].replace("port=", "port=1")}, "extract", "--date", DAY2)
    assert failing.returncode == 10
    outputs = [result.stdout, result.stderr, failing.stdout, failing.stderr]
    for folder in (settings.data_dir, TARGET_DIR, DBT_LOG.parent):
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix in (".json", ".log", ".csv", ".sql", ".txt"):
                outputs.append(path.read_text(errors="replace"))
    assert len(outputs) > 20
    assert not [text for text in outputs if secret in text]
