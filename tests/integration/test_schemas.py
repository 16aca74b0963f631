"""Every schema of the source: each table reaches the lake, raw and history under a name no other
table has, public keeps its names, and SOURCE_SCHEMAS, SOURCE_INCLUDE and SOURCE_EXCLUDE narrow it.

The source is the demo's public schema plus schemas this test creates: two tables of one name
in two schemas, names with dots, quotes and spaces, an enum name in two schemas with
different labels, an array of an enum, an enum as a primary key, a domain, and foreign keys
across schemas.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from helpers import DAY, query

from extract import cli, ledger, pipeline
from extract.report import print_status

NEXT_DAY = "2024-01-16"

SCHEMAS = '''
create schema sales;
create schema "Sales.Archive";
create schema "odd ""quoted"" schema";
create type sales.status as enum ('open', 'shipped');
create type "Sales.Archive".status as enum ('archived', 'open');
create domain sales.amount as numeric(12, 2) check (value >= 0);
create table sales.orders (
    order_id integer primary key, customer_id bpchar references public.customers,
    status sales.status not null, total sales.amount, tags sales.status[]);
create table "Sales.Archive".orders (
    order_id integer primary key references sales.orders, status "Sales.Archive".status, note text);
create table sales."order lines" (
    "order id" integer references sales.orders, "line ""no""" integer, product_id smallint references public.products,
    primary key ("order id", "line ""no"""));
create table "odd ""quoted"" schema"."Mixed Case.table" (id integer primary key, "a value" text);
create table sales.rates (status sales.status primary key, rate integer);
insert into sales.rates values ('open', 1), ('shipped', 2);
insert into sales.orders select 1, min(customer_id), 'open', 10.50, '{shipped,NULL}' from public.customers;
insert into sales.orders values (2, null, 'shipped', 0, '{}');
insert into "Sales.Archive".orders values (1, 'archived', 'moved'), (2, 'open', null);
insert into sales."order lines" select 1, 1, min(product_id) from public.products;
insert into "odd ""quoted"" schema"."Mixed Case.table" values (1, 'x'), (2, null);
'''

# Source relation -> its name in the lake, the ledger, raw and history.
NAMES = {
    "sales.orders": "sales.orders",
    '"Sales.Archive".orders': '"Sales.Archive".orders',
    'sales."order lines"': "sales.order lines",
    '"odd ""quoted"" schema"."Mixed Case.table"': '"odd ""quoted"" schema".Mixed Case.table',
    "sales.rates": "sales.rates",
}


def _relation(schema: str, name: str) -> str:
    return f'{schema}."{name.replace(chr(34), chr(34) * 2)}"'


def _rows(dsn: str, relation: str) -> list[tuple]:
    return query(dsn, f"select t::text from {relation} as t order by 1")


def _enum(dsn: str, name: str) -> list[tuple]:
    return query(dsn, f"select unnest(enum_range(null::{name}))::text")


def _load_both(settings, date: str) -> None:
    """A day loaded, then built on the postgres target, whose history of each new table must equal history's."""
    pipeline.load(settings, date)
    pipeline.load(settings, date, target="postgres")
    warehouse = settings.dsn("warehouse")
    for name in NAMES.values():
        assert _rows(warehouse, _relation("postgres_history", name)) == _rows(warehouse, _relation("history", name))


def test_every_schema_reaches_the_lake_raw_and_history_under_names_that_never_collide(demo, capsys):
    source, warehouse = demo.dsn("source"), demo.dsn("warehouse")
    query(source, SCHEMAS)
    pipeline.extract(demo, DAY, csv_path=demo.demo_csv)
    _load_both(demo, DAY)

    entry = {e["step"]: e for e in ledger.read(demo.lake, DAY)}["extract_postgres"]
    partitions = {p["table"]: p for p in entry["details"]["partitions"]}
    assert set(NAMES.values()) <= set(partitions) and "customers" in partitions  # public keeps its names
    assert partitions["sales.order lines"]["source_relation"] == ["sales", "order lines"]
    assert partitions["customers"]["source_relation"] == ["public", "customers"]
    for name in NAMES.values():
        assert (demo.data_dir / "postgres" / name / DAY / f"{name}.parquet").is_file()
        manifest = json.loads((demo.data_dir / "postgres" / name / DAY / "_manifest.json").read_text())
        assert manifest["table"] == name
    raw = {name for (name,) in query(warehouse, "select tablename::text from pg_tables where schemaname = 'raw'")}
    assert raw == set(partitions) | {"order_details"}
    for relation, name in NAMES.items():
        assert _rows(warehouse, _relation("raw", name)) == _rows(source, relation), relation
        history = query(warehouse, f"select count(*), min(valid_from)::text from {_relation('history', name)}")
        assert history == [(len(_rows(source, relation)), DAY)], relation
    # one enum name in two schemas: two types, each with its own labels
    assert _enum(warehouse, 'raw."sales.status"') == _enum(source, "sales.status")
    assert _enum(warehouse, 'raw."""Sales.Archive"".status"') == _enum(source, '"Sales.Archive".status')
    total = (
        "select format_type(atttypid, atttypmod) from pg_attribute where attrelid = %s::regclass and attname = 'total'"
    )
    assert query(warehouse, total, ('raw."sales.orders"',)) == [('raw."sales.amount"',)]
    assert query(warehouse, total.replace("total", "tags"), ('raw."sales.orders"',)) == [('raw."sales.status"[]',)]

    # a second day: history keeps the change of a table of another schema
    query(source, "update sales.orders set status = 'shipped' where order_id = 1")
    query(source, "alter table sales.orders add column channel text")
    query(source, "update sales.rates set rate = 3 where status = 'open'")
    query(source, """insert into "odd ""quoted"" schema"."Mixed Case.table" values (3, 'new')""")
    capsys.readouterr()
    pipeline.extract(demo, NEXT_DAY, csv_path=demo.demo_csv)
    assert f"schema drift: postgres/sales.orders since {DAY}: column channel added (text)" in capsys.readouterr().out
    _load_both(demo, NEXT_DAY)
    versions = "select order_id, status::text, valid_from::text, valid_to::text from " + _relation(
        "history", "sales.orders"
    )
    assert sorted(query(warehouse, versions)) == [
        (1, "open", DAY, NEXT_DAY),
        (1, "shipped", NEXT_DAY, None),
        (2, "shipped", DAY, None),
    ]
    rates = "select status::text, rate, valid_from::text from " + _relation("history", "sales.rates")
    assert sorted(query(warehouse, rates)) == [("open", 1, DAY), ("open", 3, NEXT_DAY), ("shipped", 2, DAY)]
    odd = _relation("raw", NAMES['"odd ""quoted"" schema"."Mixed Case.table"'])
    assert _rows(warehouse, odd) == _rows(source, '"odd ""quoted"" schema"."Mixed Case.table"')

    # the gate checks their partitions like any other: a damaged one stops the load, in one line
    published = _rows(warehouse, _relation("raw", "sales.order lines"))
    (demo.data_dir / "postgres" / "sales.order lines" / NEXT_DAY / "sales.order lines.parquet").write_bytes(b"x")
    with pytest.raises(pipeline.StepFailed) as failure:
        pipeline.load(demo, NEXT_DAY)
    assert "postgres/sales.order lines" in str(failure.value) and "\n" not in str(failure.value)
    assert _rows(warehouse, _relation("raw", "sales.order lines")) == published
    capsys.readouterr()
    print_status(demo, NEXT_DAY)
    said = capsys.readouterr().out
    assert f"load: refused: step 2 (load) refused for {NEXT_DAY}: postgres/sales.order lines: " in said, said


def test_schemas_and_patterns_narrow_what_step_1_takes(demo, capsys, monkeypatch):
    source = demo.dsn("source")
    query(source, SCHEMAS)
    monkeypatch.setenv("SOURCE_SCHEMAS", "sales")  # the command line's flags win over the environment
    day = "2024-01-17"
    args = ["extract", "postgres", "--date", day, "--quiet", "--schemas", "public,sales", "--exclude", "sales.order l*"]
    assert cli.main(args) == 0
    partitions = {p["table"] for e in ledger.read(demo.lake, day) for p in e["details"]["partitions"]}
    assert "sales.orders" in partitions and "customers" in partitions
    assert not {"sales.order lines", '"Sales.Archive".orders'} & partitions

    # a role that cannot read a schema: its tables are left out, and the log says so
    query(source, "create role narrow login; grant usage on schema public, sales to narrow; "
          "grant select on all tables in schema public, sales to narrow")  # fmt: skip
    narrow = dataclasses.replace(demo, dsns={**demo.dsns, "source": f"{source} user=narrow"})
    capsys.readouterr()
    pipeline.extract(narrow, day, csv_path=demo.demo_csv)
    said = capsys.readouterr().out
    unreadable = '"Sales.Archive".orders, "odd ""quoted"" schema".Mixed Case.table'
    assert f"left out, the source role cannot read them: {unreadable}" in said
    partitions = {p["table"] for e in ledger.read(demo.lake, day) for p in e["details"]["partitions"]}
    assert "sales.order lines" in partitions and '"Sales.Archive".orders' not in partitions


@pytest.mark.parametrize(
    ("table", "refusal"),
    [
        (
            'public."Sales.orders" (id integer)',
            "public.Sales.orders and sales.orders would share the name Sales.orders in the lake (case aside); "
            "leave the table out with SOURCE_EXCLUDE=public.Sales.orders",
        ),
        (
            'sales."a,*" (id integer)',
            "sales.a,* cannot name a lake folder (a slash, a leading dot, or one of *,?[]`{}); "
            "leave the table out with SOURCE_EXCLUDE=sales.a,[*]",
        ),
    ],
)
def test_a_name_the_lake_cannot_hold_is_refused_in_one_line_before_anything_is_written(demo, table, refusal):
    source = demo.dsn("source")
    query(source, SCHEMAS + f"create table {table};")
    with pytest.raises(pipeline.StepFailed) as failure:
        pipeline.extract(demo, NEXT_DAY, csv_path=demo.demo_csv)
    said = str(failure.value)
    assert said.startswith("step 1 refused, no source table written: ") and said.endswith(refusal), said
    assert not list(demo.data_dir.glob(f"postgres/*/{NEXT_DAY}/*.parquet"))
