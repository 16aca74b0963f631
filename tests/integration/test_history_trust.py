"""History that stays true when sources and operators do what they really do.

One journey on the demo source plus tables of our own, read by a least-privilege source role,
history checked against its definition after every load: as of every day it was built from,
each table's history is that day's partition, in history's (wider) types, or nothing on a day
the source's catalog lacked the table. Tables are dropped, renamed, recreated, rekeyed,
made unreadable and left out; columns are widened, retyped beyond widening, a json value
rewritten with other whitespace and a float turned to -0. Then an operator flips a bit in a past
partition and backfills an earlier day, rebuilds with --full-refresh, restores the file,
re-extracts one table of a past day, and loses the ledger.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace

from helpers import dbt, query

from extract import duck, pipeline
from extract.config import load_settings
from extract.report import print_status
from extract.source_tables import EVERY_TABLE, Selection
from extract.sql import literal, quote

D0, D1, D2, D3 = "2024-01-31", "2024-02-01", "2024-02-02", "2024-02-03"

SETUP = [
    "create table t_drop (id int primary key, v text)",
    "create table t_rename (id int primary key, v text)",
    "create table t_recreate (id int primary key, v text)",
    "create table t_keyrename (id int primary key, v text)",
    "create table t_keymove (id int primary key, code text, v text)",
    "create table t_secret (id int primary key, v text)",
    "create table t_excluded (id int primary key, v text)",
    "create table t_char (code char(5) primary key, v text)",
    "create table t_widen (id int primary key, s smallint, i integer, n numeric(10,2), ts timestamp, r real, "
    "vc varchar(10), t text)",
    "create table t_values (id int primary key, j json, f double precision)",
    *(f"insert into {t} values (1, 'a'), (2, 'b')" for t in ("t_drop", "t_rename", "t_recreate", "t_keyrename")),
    *(f"insert into {t} values (1, 'a'), (2, 'b')" for t in ("t_secret", "t_excluded")),
    "insert into t_keymove values (1, 'x', 'a'), (2, 'x', 'b')",  # code repeats: not a key yet
    "insert into t_char values ('ALFKI', 'a'), ('BOTTM', 'b')",
    "insert into t_widen values (1, 1, 2, 1.50, '2024-01-01 12:00', 1.5, 'abc', '7'), "
    "(2, null, null, null, null, null, null, null)",
    """insert into t_values values (1, '{"a": 1}', 0), (2, '[1, 2]', 1), (3, null, 'NaN')""",
    "create domain required as integer not null",
    "create role reader login",
    "grant select on all tables in schema public to reader",
    "alter database test_source set timezone to 'Europe/Oslo'",
]

CHANGES = [
    "drop table t_drop",
    "alter table t_rename rename to t_renamed",
    "drop table t_recreate",
    "alter table t_keyrename rename column id to ident",
    "update t_keymove set code = 'y' where id = 2",
    "alter table t_keymove drop constraint t_keymove_pkey, add primary key (code)",
    "revoke select on t_secret from reader",
    "alter table t_char alter column code type char(8)",
    "alter table t_widen alter column s type integer, alter column i type bigint, alter column n type numeric(10,3), "
    "alter column ts type timestamptz, alter column r type double precision, alter column vc type text, "
    "alter column t type integer using t::integer",
    """update t_values set j = '{"a":1}', f = '-0' where id = 1""",
    "update t_values set f = 'Infinity'::float8 - 'Infinity'::float8 where id = 3",  # a NaN with its sign bit set
    "alter table t_values add column r required default 1",  # NULL in history's versions of D1
]


CHARACTER = (
    "select column_name from information_schema.columns "
    "where table_schema = 'history' and table_name = %s and data_type = 'character'"
)


def history_tables(warehouse: str) -> dict[str, dict]:
    """What each published history table was built from (its comment)."""
    rows = query(
        warehouse,
        "select c.relname, obj_description(c.oid, 'pg_class') from pg_class as c "
        "where c.relnamespace = 'history'::regnamespace and c.relkind = 'r'",
    )
    return {table: json.loads(comment) for table, comment in rows}


def assert_history_is_its_definition(settings) -> None:
    """As of every day each history table was built from, it is that day's partition, compared in
    history's types (a timestamp read in the source's TimeZone), or empty on a day the table was absent;
    but for a table kept as published this run."""
    warehouse = settings.dsn("warehouse")
    with duck.connect() as con:
        con.execute("set TimeZone = 'Europe/Oslo'")  # the source's: how a timestamp widens to timestamptz
        con.execute(f"attach {literal(warehouse)} as wh (type postgres, read_only)")
        for table, built in history_tables(warehouse).items():
            if built.get("refused"):
                continue  # kept as published, as the test checks: its lake no longer gives it
            history = f"wh.history.{quote(table)}"
            types = dict(con.execute(f"select column_name, column_type from (describe {history})").fetchall())
            padded = {name for (name,) in query(warehouse, CHARACTER, (table,))}  # DuckDB reads them unpadded
            for day, sha256 in built["days"].items():
                as_of = f"valid_from <= '{day}' and (valid_to > '{day}' or valid_to is null)"
                if sha256 == "absent":
                    assert con.sql(f"select count(*) from {history} where {as_of}").fetchone() == (0,), (table, day)
                    continue
                source = "csv" if table == "order_details" else "postgres"
                path = settings.data_dir / source / table / day / f"{table}.parquet"
                partition = f"read_parquet({literal(str(path))})"
                columns = con.sql(f"select * from {partition}").columns
                typed = ", ".join(
                    f"{'rtrim' if c in padded else ''}(cast({quote(c)} as {types[c]})) as {quote(c)}" for c in columns
                )
                names = ", ".join(quote(c) for c in columns)
                one, other = f"select {names} from {history} where {as_of}", f"select {typed} from {partition}"
                for a, b in ((one, other), (other, one)):
                    assert con.sql(f"({a}) except all ({b})").fetchall() == [], (table, day)


def versions(warehouse: str, table: str, columns: str = "*") -> list[tuple]:
    return query(warehouse, f"select {columns} from history.{quote(table)} order by valid_from, 1")


def test_history_through_source_changes_and_operator_mistakes(demo, capsys):
    admin_source = demo.dsn("source")
    for statement in SETUP:
        query(admin_source, statement)
    settings = load_settings({**os.environ, "SOURCE_DSN": admin_source.replace("user=postgres", "user=reader")})
    warehouse = settings.dsn("warehouse")

    def extract(day: str, selection: Selection = EVERY_TABLE, steps=("extract_postgres", "extract_csv")) -> None:
        pipeline.extract(replace(settings, source_tables=selection), day, csv_path=settings.demo_csv, steps=steps)

    def load(day: str) -> str:
        capsys.readouterr()
        pipeline.load(settings, day)
        said = capsys.readouterr().out
        assert_history_is_its_definition(settings)
        return said

    extract(D1)
    load(D1)
    # D2: tables dropped, renamed, rekeyed, made unreadable, left out; columns retyped
    for statement in CHANGES:
        query(admin_source, statement)
    extract(D2, Selection(exclude=("t_excluded",)))
    said = load(D2)
    tables = history_tables(warehouse)
    assert "t_drop" in tables and "t_renamed" in tables and "t_recreate" in tables
    assert versions(warehouse, "t_drop", "id, valid_from::text, valid_to::text") == [(1, D1, D2), (2, D1, D2)]
    assert versions(warehouse, "t_rename", "id, valid_to::text") == [(1, D2), (2, D2)]
    assert versions(warehouse, "t_renamed", "id, valid_from::text, valid_to") == [(1, D2, None), (2, D2, None)]
    # a change of key is a new identity: the old key's versions end, the new key's start
    assert sorted(versions(warehouse, "t_keyrename", "id, ident, valid_from::text, valid_to::text"), key=str) == [
        (1, None, D1, D2),
        (2, None, D1, D2),
        (None, 1, D2, None),
        (None, 2, D2, None),
    ]
    assert tables["t_keymove"]["segments"] == [[D1, ["id"]], [D2, ["code"]]]
    assert versions(warehouse, "t_keymove", "code, valid_from::text, valid_to::text") == [
        ("x", D1, D2),
        ("x", D1, D2),
        ("x", D2, None),
        ("y", D2, None),
    ]
    # not observed: unreadable, or left out; their history stays as it was, current
    for table in ("t_secret", "t_excluded"):
        assert versions(warehouse, table, "id, valid_from::text, valid_to") == [(1, D1, None), (2, D1, None)]
    assert "t_secret (last extracted 2024-02-01; the source role cannot read it)" in said, said
    assert "t_excluded (last extracted 2024-02-01; left out by the selection)" in said, said
    assert "t_drop (last extracted 2024-02-01; not in the source since 2024-02-02)" in said, said
    # widening retypes are not changes: one version each, in the newest type
    assert versions(warehouse, "t_char", "code, valid_to") == [("ALFKI   ", None), ("BOTTM   ", None)]
    assert len(versions(warehouse, "t_widen")) == 2
    types = query(
        warehouse,
        "select column_name, format_type(atttypid, atttypmod) from information_schema.columns "
        "inner join pg_attribute on attrelid = 'history.t_widen'::regclass and attname = column_name "
        "where table_schema = 'history' and table_name = 't_widen' order by ordinal_position",
    )
    assert dict(types) == {
        "id": "integer",
        "s": "integer",
        "i": "bigint",
        "n": "numeric(11,3)",  # the smallest numeric that holds every value of both exactly
        "ts": "timestamp with time zone",
        "r": "double precision",
        "vc": "text",
        "t": "text",  # text to integer does not widen: compared as text, the same '7'
        "valid_from": "date",
        "valid_to": "date",
    }
    assert (
        query(warehouse, "select ts from history.t_widen where id = 1")[0][0].isoformat() == "2024-01-01T11:00:00+00:00"
    )
    assert "t retyped (text, integer), no type holds every value of the others: compared and kept as text" in said
    assert "i retyped (integer, bigint): compared and kept as bigint" in said
    # a json value rewritten with other whitespace, and 0 turned to -0, are changes, by build and audit alike
    # every NaN is alike, as PostgreSQL prints them
    assert versions(warehouse, "t_values", "id, j::text, f::text, valid_from::text") == [
        (1, '{"a": 1}', "0", D1),
        (2, "[1, 2]", "1", D1),
        (3, None, "NaN", D1),
        (1, '{"a":1}', "-0", D2),
    ]

    # D3: the dropped table comes back, the unreadable one is readable again, nothing left out
    query(admin_source, "create table t_recreate (id int primary key, v text)")
    query(admin_source, "insert into t_recreate values (1, 'again')")
    query(admin_source, "grant select on all tables in schema public to reader")
    extract(D3)
    said = load(D3)
    assert versions(warehouse, "t_recreate", "id, v, valid_from::text, valid_to::text") == [
        (1, "a", D1, D2),
        (2, "b", D1, D2),
        (1, "again", D3, None),
    ]
    assert versions(warehouse, "t_secret", "id, valid_from::text, valid_to") == [(1, D1, None), (2, D1, None)]
    assert "no longer extracted" in said and "t_secret (" not in said.split("no longer extracted", 1)[1]

    # a bit flipped in a past partition (same size), then an earlier day backfilled: that table's
    # history is refused and kept as published, named with its file; everything else publishes
    customers = settings.data_dir / "postgres" / "customers" / D1 / "customers.parquet"
    good = customers.read_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x01
    customers.write_bytes(bytes(flipped))
    published = versions(warehouse, "customers")
    extract(D0)
    said = load(D0)
    assert f"history.customers kept as published: {customers} does not match its manifest (SHA-256)" in said, said
    assert versions(warehouse, "customers") == published
    assert D0 in history_tables(warehouse)["products"]["days"]
    status = pipeline.ledger.read(settings.lake, D0)
    load_entry = next(entry for entry in status if entry["step"] == "load")
    assert "customers" in load_entry["details"]["history"]["refused"]
    print_status(settings, D0)
    assert f"history.customers kept as published: {customers} does not match" in capsys.readouterr().out
    # a --full-refresh reads every day again: refused again
    rebuilt = dbt(settings, "build", "--full-refresh", env={"LAKEHOUSE_RUN_DATE": D3})
    assert rebuilt.success and "history.customers kept as published" in rebuilt.output, rebuilt.output[-3000:]
    assert versions(warehouse, "customers") == published
    # the file restored, the next load builds it again, with the backfilled day
    customers.write_bytes(good)
    said = load(D3)
    assert "kept as published" not in said
    assert D0 in history_tables(warehouse)["customers"]["days"]

    # one table of a past day re-extracted: every other table keeps that day, and the day's catalog
    # as that day's run saw it (t_drop was there on D1); one table of the day loaded, the same
    extract(D1, Selection(include=("orders",)), steps=("extract_postgres",))
    extract(D3, Selection(include=("orders",)), steps=("extract_postgres",))
    said = load(D3)
    assert D1 in history_tables(warehouse)["customers"]["days"]
    assert versions(warehouse, "t_drop", "id, valid_to::text") == [(1, D2), (2, D2)]
    assert "customers (" not in said and "t_drop (last extracted 2024-02-01" in said, said
    # a day whose source tables were extracted, and not the CSV: the CSV's order lines were not absent
    extract("2024-02-04", steps=("extract_postgres",))
    load(D3)
    assert "2024-02-04" not in history_tables(warehouse)["order_details"]["days"]
    assert "2024-02-04" in history_tables(warehouse)["customers"]["days"]
    # the ledger lost, today re-extracted: history keeps every day the lake holds
    days = {table: built["days"] for table, built in history_tables(warehouse).items()}
    shutil.rmtree(settings.data_dir / "_ledger")
    extract(D3)
    load(D3)
    assert {table: built["days"] for table, built in history_tables(warehouse).items()} == days
