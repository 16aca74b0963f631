"""History in the warehouse: every day the lake keeps, as SCD2 versions published with raw and the marts.

A journey over days on which the demo source changes, with a missing day, a deletion, a
key that comes back and a backfill: after every load, history as of each present day is
exactly that day's partition. A day with duplicate keys fails the build, and the
warehouse keeps the history it had.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess

import pytest
from helpers import DAY, cli, dbt, query

from extract import duck, pipeline
from extract.config import REPO_ROOT, redact
from extract.sql import literal, quote

DAYS = ["2024-01-15", "2024-01-16", "2024-01-17", "2024-01-18", "2024-01-19"]
CUSTOMER = "insert into customers (customer_id, company_name, city) values ('ZZNEW', 'New Co', 'Oslo')"


def assert_history_is_the_lake(settings, days: list[str], tables=("customers", "products")) -> None:
    """As of every present day, history gives exactly that day's partition, as typed; on its columns."""
    with duck.connect() as con:
        con.execute(f"attach {literal(settings.dsn('warehouse'))} as wh (type postgres, read_only)")
        for table in tables:
            for day in days:
                partition = f"select * from read_parquet('{settings.data_dir}/postgres/{table}/{day}/{table}.parquet')"
                columns = ", ".join(quote(column) for column in con.sql(partition).columns)
                as_of = (
                    f"select {columns} from wh.history.{table} "
                    f"where valid_from <= '{day}' and (valid_to > '{day}' or valid_to is null)"
                )
                for one, other in ((as_of, partition), (partition, as_of)):
                    assert con.sql(f"({one}) except all ({other})").fetchall() == [], (table, day)


def load_both(settings, date: str) -> None:
    """A day loaded, then built on the postgres target, whose history must then equal history's, table by table."""
    pipeline.load(settings, date)
    pipeline.load(settings, date, target="postgres")
    listed = "select table_name from information_schema.tables where table_schema = 'history'"
    tables = query(settings.dsn("warehouse"), listed)
    assert len(tables) == 14
    for (table,) in tables:
        for one, other in (("history", "postgres_history"), ("postgres_history", "history")):
            found = f"select * from {one}.{quote(table)} except all select * from {other}.{quote(table)}"
            assert query(settings.dsn("warehouse"), found) == [], (table, one, date)


def test_history_journey_changes_gap_deletion_return_backfill_and_duplicates(demo, capsys):
    settings = demo
    source = settings.dsn("source")
    load_both(settings, DAY)
    assert_history_is_the_lake(settings, [DAY])
    ended = "select count(*) from history.customers where valid_to is not null"
    assert query(settings.dsn("warehouse"), ended) == [(0,)]

    # 17th: a customer moves, a price changes, a customer is new; the 16th is missing for now
    query(source, "update customers set city = 'Bergen' where customer_id = (select min(customer_id) from customers)")
    query(source, "update products set unit_price = unit_price + 1 where product_id = 1")
    query(source, CUSTOMER)
    pipeline.extract(settings, DAYS[2], csv_path=settings.demo_csv)
    capsys.readouterr()
    load_both(settings, DAYS[2])
    assert "history of 14 tables, each from the day before its first change" in capsys.readouterr().out
    assert_history_is_the_lake(settings, [DAY, DAYS[2]])
    moved = query(
        settings.dsn("warehouse"),
        "select city, valid_from::text, valid_to::text from history.customers "
        "where customer_id = (select min(customer_id) from history.customers) order by valid_from",
    )
    assert [row[1:] for row in moved] == [(DAY, DAYS[2]), (DAYS[2], None)] and moved[1][0] == "Bergen"

    # 18th: the new customer is deleted; 19th: it comes back, with the same values, and a column
    # is added, another widens (smallint to integer: history compares and keeps integer)
    query(source, "delete from customers where customer_id = 'ZZNEW'")
    pipeline.extract(settings, DAYS[3], csv_path=settings.demo_csv)
    load_both(settings, DAYS[3])
    assert_history_is_the_lake(settings, [DAY, *DAYS[2:4]])
    query(source, CUSTOMER)
    query(source, "alter table customers add column segment text default 'retail'")
    query(source, "alter table products alter column units_in_stock type integer")
    pipeline.extract(settings, DAYS[4], csv_path=settings.demo_csv)
    load_both(settings, DAYS[4])
    load_both(settings, DAYS[4])  # the postgres target undoes the day it applied last before applying it again
    versions = query(
        settings.dsn("warehouse"),
        "select valid_from::text, valid_to::text from history.customers where customer_id = 'ZZNEW' order by 1",
    )
    assert versions == [(DAYS[2], DAYS[3]), (DAYS[4], None)]
    assert_history_is_the_lake(settings, [DAY, *DAYS[2:]], tables=("customers",))
    types = "select data_type from information_schema.columns where table_schema = 'history' and column_name = %s"
    assert query(settings.dsn("warehouse"), types, ("units_in_stock",)) == [("integer",)]
    assert query(settings.dsn("warehouse"), types, ("segment",)) == [("text",)]

    # the missing 16th, backfilled after the later days, from the source as it is now; the
    # postgres target, which applies loaded days in order, refuses it and keeps its history
    pipeline.extract(settings, DAYS[1], csv_path=settings.demo_csv)
    pipeline.load(settings, DAYS[1])
    assert_history_is_the_lake(settings, DAYS, tables=("customers",))
    capsys.readouterr()
    with pytest.raises(pipeline.StepFailed) as failure:
        pipeline.load(settings, DAYS[1], target="postgres")
    said = str(failure.value) + capsys.readouterr().out
    assert f"the postgres target applies days in order, and raw holds {DAYS[1]}, before {DAYS[4]}" in said, said
    # each load above built history from the day before its first change; a full refresh gives the same
    tables = ("customers", "products", "orders", "order_details")
    ordered = "select * from history.{} order by 1, 2, valid_from"
    versions = {table: query(settings.dsn("warehouse"), ordered.format(table)) for table in tables}
    rebuilt = dbt(settings, "build", "--full-refresh", env={"LAKEHOUSE_RUN_DATE": DAYS[1]})
    assert rebuilt.success and "tables, computed whole for categories" in rebuilt.output, rebuilt.output[-3000:]
    for table in tables:
        assert query(settings.dsn("warehouse"), ordered.format(table)) == versions[table], table

    # the 20th, extracted and never loaded, shapes history as much as the 21st, loaded
    query(source, "update customers set city = 'Tromso' where customer_id = 'ZZNEW'")
    pipeline.extract(settings, "2024-01-20", csv_path=settings.demo_csv)
    pipeline.extract(settings, "2024-01-21", csv_path=settings.demo_csv)
    pipeline.load(settings, "2024-01-21")
    assert_history_is_the_lake(settings, [*DAYS, "2024-01-20", "2024-01-21"], tables=("customers",))
    current = "select valid_from::text from history.customers where customer_id = 'ZZNEW' and valid_to is null"
    assert query(settings.dsn("warehouse"), current) == [("2024-01-20",)]
    before = query(settings.dsn("warehouse"), "select * from history.customers order by 1, valid_from")

    # the source loses its key for a day, and a second ZZNEW: a day without a key is not observed
    query(
        source,
        "do $$ begin execute (select format('alter table customers drop constraint %%I cascade', conname) "
        "from pg_constraint where conrelid = 'customers'::regclass and contype = 'p'); end $$",
    )
    query(source, "insert into customers (customer_id, company_name) values ('ZZNEW', 'Twin Co')")
    pipeline.extract(settings, "2024-01-22", csv_path=settings.demo_csv)
    query(source, "delete from customers where company_name = 'Twin Co'")
    query(source, "alter table customers add primary key (customer_id)")
    pipeline.extract(settings, "2024-01-23", csv_path=settings.demo_csv)
    pipeline.load(settings, "2024-01-23")
    assert query(settings.dsn("warehouse"), "select * from history.customers order by 1, valid_from") == before
    assert_history_is_the_lake(settings, [*DAYS, "2024-01-20", "2024-01-21", "2024-01-23"], tables=("customers",))

    # a past partition rewritten with a duplicate key (its manifest made to match): that table's
    # history is refused and kept as published, every other table and the marts publish
    rewrite_partition(
        settings,
        "customers",
        "2024-01-21",
        "select * from partition union all select * from partition where customer_id = 'ZZNEW'",
    )
    capsys.readouterr()
    query(source, "update products set unit_price = unit_price + 1 where product_id = 2")
    pipeline.extract(settings, "2024-01-24", csv_path=settings.demo_csv)
    pipeline.load(settings, "2024-01-24")
    said = capsys.readouterr().out
    assert (
        "history.customers kept as published: duplicate keys (customer_id) in the lake: (ZZNEW) 2 times on 2024-01-21; "
        "replace that partition with the data of its day, or remove it"
    ) in said, said
    assert query(settings.dsn("warehouse"), "select * from history.customers order by 1, valid_from") == before
    assert (
        query(settings.dsn("warehouse"), "select obj_description('history.customers'::regclass)")[0][0].count(
            '"refused": "duplicate keys'
        )
        == 1
    )
    changed = "select count(*) from history.products where product_id = 2 and valid_from = '2024-01-24'"
    assert query(settings.dsn("warehouse"), changed) == [(1,)]

    # the audit every build runs: a version split in two equal ones, or moved off the days history
    # was built from, is found
    assert dbt(settings, "test", "--select", "history_versions").success
    warehouse = settings.dsn("warehouse")
    current = f"select min(customer_id) from history.customers where valid_from = '{DAY}' and valid_to is null"
    whole = f"customer_id = {literal(query(warehouse, current)[0][0])}"
    split = (
        f"with half as (update history.customers set valid_to = '{DAYS[2]}' where {whole} and valid_to is null "
        "returning *) insert into history.customers select (jsonb_populate_record(null::history.customers, "
        f'to_jsonb(half) || \'{{"valid_from": "{DAYS[2]}", "valid_to": null}}\')).* from half'
    )
    query(warehouse, split)
    assert not dbt(settings, "test", "--select", "history_versions").success
    assert query(warehouse, "select distinct problem from test_failures.history_versions") == [
        ("equals the version before it",)
    ]
    query(warehouse, f"delete from history.customers where {whole} and valid_from = '{DAYS[2]}'")
    query(warehouse, f"update history.customers set valid_to = null where {whole} and valid_to = '{DAYS[2]}'")
    moved = "update history.customers set valid_from = '1999-01-01' where customer_id = 'ZZNEW' and valid_to is null"
    query(settings.dsn("warehouse"), moved)
    audit = dbt(settings, "test", "--select", "history_versions")
    assert not audit.success and "Failure in test history_versions" in audit.output, audit.output[-2000:]


def rewrite_partition(settings, table: str, day: str, select: str) -> None:
    """Rewrite a past partition with ``select`` over its rows (``partition``), its manifest and ledger entry made
    to match, as an operator restoring the wrong day's file and records would."""
    folder = settings.data_dir / "postgres" / table / day
    path, manifest_path = folder / f"{table}.parquet", folder / "_manifest.json"
    with duck.connect() as con:
        con.execute(f"create table partition as select * from read_parquet('{path}')")
        con.execute(f"copy ({select}) to '{path}' (format parquet)")
    manifest = json.loads(manifest_path.read_text())
    manifest.update(bytes=path.stat().st_size, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    manifest_path.write_text(json.dumps(manifest))
    entry_path = settings.data_dir / "_ledger" / day / "extract_postgres.json"
    entry = json.loads(entry_path.read_text())
    for listed in entry["details"]["partitions"]:
        if listed["table"] == table:
            listed.update(bytes=manifest["bytes"], sha256=manifest["sha256"])
    entry_path.write_text(json.dumps(entry))


def _section() -> str:
    return (REPO_ROOT / "README.md").read_text().split("### History", 1)[1].split("\n### ", 1)[0]


def test_readme_history_lines_as_written(lake_env, settings):
    """The README's backfill of evolving demo days, run as written, then its two queries."""
    bash = _section().split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert bash == ["make backfill FROM=2024-01-01 TO=2024-01-05 EVOLVE=1", "make psql"]
    # The test's source is a database of its own (SOURCE_DSN), which make backfill only reads: the
    # demo is seeded into it as make backfill seeds the embedded one.
    assert cli(lake_env, "seed", "--into", redact(lake_env["SOURCE_DSN"])).returncode == 0
    backfill = subprocess.run(bash[0].split(), env=lake_env, cwd=REPO_ROOT, capture_output=True, text=True)
    assert backfill.returncode == 0, backfill.stdout[-3000:] + backfill.stderr[-3000:]
    as_of, changes = _section().split("```sql\n", 1)[1].split("```", 1)[0].split("\n\n")
    warehouse = settings.dsn("warehouse")
    assert sorted(query(warehouse, as_of)) == sorted(_customers_of(settings, "2024-01-03"))
    assert ("ZZDEM",) not in [row[:1] for row in query(warehouse, as_of)]  # deleted on the 3rd
    changed = query(warehouse, changes)
    assert ("ZZDEM", "Tromsø", dt.date(2024, 1, 1), dt.date(2024, 1, 3)) in changed  # deleted
    assert ("ZZDEM", "Tromsø", dt.date(2024, 1, 4), None) in changed  # back, a new version
    moved = [row for row in changed if row[0] != "ZZDEM"]
    assert len({row[0] for row in moved}) == 3  # the three customers that move every three days


def _customers_of(settings, day: str) -> list[tuple]:
    path = settings.data_dir / "postgres" / "customers" / day / "customers.parquet"
    with duck.connect() as con:
        return con.sql(f"select customer_id, company_name, city from read_parquet('{path}')").fetchall()
