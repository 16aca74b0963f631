"""History (macros/history.sql) equals its definition, on random lakes, whatever order the days arrive in.

The macros are rendered with plain Jinja and run on DuckDB, as dbt-duckdb runs them; the
definition is computed here independently, day by day. The lakes have days the source's catalog
lacked the table (absent), a key that changes between days (segments), columns retyped between
days (integer and bigint, numeric(10,2) and numeric(10,3), integer and text) and floating-point
values that differ only by their sign (0.0 and -0.0) or are NaN.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import jinja2
from hypothesis import given, settings
from hypothesis import strategies as st

from extract.sql import literal, quote

MACROS = Path(__file__).resolve().parents[2] / "dbt_project" / "macros"
COLUMNS = ["id", "name", "price", "note", "weight"]  # "note" comes and goes: added and dropped between days
KEYS = (("id",), ("id", "name"))  # a day's primary key: a change of key is a new identity
FIRST = dt.date(2024, 3, 1)
ABSENT = None  # a day on which step 1 read the source's catalog and the table was not in it
# The column kinds a manifest gives, by source type.
KINDS = {
    source_type: {"type": duck, "source_type": source_type, "warehouse_type": source_type}
    for source_type, duck in [
        ("integer", "INTEGER"),
        ("bigint", "BIGINT"),
        ("numeric(10,2)", "DECIMAL(10,2)"),
        ("numeric(10,3)", "DECIMAL(10,3)"),
        ("text", "VARCHAR"),
        ("double precision", "DOUBLE"),
    ]
}
Day = dict[str, Any]  # a partition: its "key", the source "types" of its columns, its "rows"; or ABSENT


class _Returned(Exception):
    """dbt's return(), which ends a macro with a value (plain Jinja has none)."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _return(value: Any) -> None:
    raise _Returned(value)


def _macros():
    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    env.globals["return"] = _return
    return env.from_string((MACROS / "lake.sql").read_text() + (MACROS / "history.sql").read_text()).module


MACRO = _macros()


def _value(macro, *args) -> Any:
    """What a macro that ends with dbt's return() returns."""
    try:
        macro(*args)
    except _Returned as returned:
        return returned.value
    return None


def _literal(value: Any) -> str:
    """A value as text, cast to its day's type in _relation: so -0.0 and NaN survive (-0.0 as a SQL number is 0)."""
    return "null" if value is None else literal(repr(value) if isinstance(value, float) else str(value))


def _relation(day: Day) -> str:
    """A day's rows as a table expression with the day's types."""
    columns = list(day["types"])
    select = ", ".join(f"cast(col{i} as {KINDS[day['types'][c]]['type']}) as {quote(c)}" for i, c in enumerate(columns))
    if not day["rows"]:
        empty = ", ".join(f"cast(null as {KINDS[day['types'][c]]['type']}) as {quote(c)}" for c in columns)
        return f"(select {empty} where false)"
    values = ", ".join("(" + ", ".join(_literal(row[c]) for c in columns) + ")" for row in day["rows"])
    return f"(select {select} from (values {values}))"


def _normal(version: tuple) -> tuple:
    """A version as compared: floating-point values by their text, so -0.0 is not 0.0 and NaN is NaN."""
    return tuple(repr(v) if isinstance(v, float) else v for v in version)


def history(con: duckdb.DuckDBPyConnection, lake: dict[dt.date, Day], built: dict | None, full_refresh: bool):
    """The versions a load publishes, as the project builds them (lake_history_plan's wiring, by hand):
    from the published ones and the days that changed since (``built``: what those were built from),
    or whole; and what it built from."""
    keyed = [day for day in sorted(lake) if lake[day] is not ABSENT]
    if not keyed:
        return set(), built  # no partition with a key: no history (the plan says why)
    names = [c for c in COLUMNS if any(c in lake[day]["types"] for day in keyed)]
    typed, retyped = {}, {}
    for name in names:
        kinds = list(dict.fromkeys(lake[day]["types"][name] for day in reversed(keyed) if name in lake[day]["types"]))
        if len(kinds) == 1:
            typed[name] = KINDS[kinds[0]]
        else:
            widened = _value(MACRO.lake_history_widened, [KINDS[kind] for kind in kinds]) or {
                "column": KINDS["text"],
                "cast": "cast({} as varchar)",
            }
            typed[name], retyped[name] = widened["column"], widened
    signature = ", ".join(f"{n} {typed[n]['source_type']} {typed[n]['warehouse_type']}" for n in names)
    textual = [i for i, c in enumerate(COLUMNS) if c in typed and typed[c]["type"] in ("FLOAT", "DOUBLE")]

    # Segments: runs of one key; a day the catalog lacked the table belongs to the segment it follows.
    segments: list[dict] = []
    for day in keyed:
        if not segments or segments[-1]["key"] != lake[day]["key"]:
            segments.append({"key": lake[day]["key"], "from": day.isoformat(), "days": []})
        segments[-1]["days"].append(day)
    for day in sorted(lake):
        if lake[day] is ABSENT and day > keyed[0]:
            [s for s in segments if s["from"] < day.isoformat()][-1]["days"].append(day)
    recorded = {}
    for segment in segments:
        segment["days"].sort()
        for day in segment["days"]:
            recorded[day.isoformat()] = "absent" if lake[day] is ABSENT else repr(lake[day])
    layout = [[s["from"], list(s["key"])] for s in segments]
    last = segments[-1]
    present = [
        {
            "day": day.isoformat(),
            "sha256": recorded[day.isoformat()],
            "columns": names if lake[day] is ABSENT else list(lake[day]["types"]),
        }
        for day in last["days"]
    ]
    same = built is not None and built["segments"] == layout
    stale = same and (
        any(d < last["from"] and recorded.get(d) != sha256 for d, sha256 in built["days"].items())
        or any(d < last["from"] and d not in built["days"] for d in recorded)
    )
    tail = {d: sha256 for d, sha256 in built["days"].items() if d >= last["from"]} if same else {}
    since = str(
        MACRO.lake_history_since(
            {"days": tail, "columns": built["columns"]} if same and not stale else None,
            present,
            signature,
            names,
            full_refresh,
        )
    ).strip()

    columns = ", ".join(f"{quote(c)} {typed.get(c, KINDS['text'])['type']}" for c in COLUMNS)
    con.execute("drop table if exists next")
    con.execute(f"create table next ({columns}, valid_from date, valid_to date)")
    for number, segment in enumerate(segments):
        if since and segment is not last:
            continue
        days = []
        for day in segment["days"]:
            if day.isoformat() < since:
                continue
            if lake[day] is ABSENT:
                days.append({"day": day.isoformat(), "relation": None, "columns": []})
                continue
            types = lake[day]["types"]
            casts = [
                retyped[c]["cast"].replace("{}", quote(c)) + " as " + quote(c)
                for c in types
                if c in retyped and types[c] != retyped[c]["column"]["source_type"]
            ]
            relation = _relation(lake[day])
            if casts:
                relation = f"(select * replace ({', '.join(casts)}) from {relation})"
            days.append({"day": day.isoformat(), "relation": relation, "columns": list(types)})
        key = list(segment["key"])
        ends = segments[number + 1]["from"] if segment is not last else None
        con.execute("create or replace temp table snapshots as " + str(MACRO.lake_history_snapshots(days, COLUMNS)))
        assert con.sql(str(MACRO.lake_history_duplicates("snapshots", days, key, COLUMNS))).fetchall() == []
        versions = MACRO.lake_history_versions("snapshots", days, key, COLUMNS, bool(since), textual, ends)
        con.execute("insert into next " + str(versions))
    if since:
        copied = {c: f"o.{quote(c)}" for c in COLUMNS}
        merge = str(MACRO.lake_history_merge("next", "published", list(last["key"]), copied, since))
        for statement in merge.split(";"):
            con.execute(statement)
    con.execute("drop table if exists published")
    con.execute("alter table next rename to published")
    rows = con.sql("select * from published").fetchall()
    versions = {_normal((*row[:-2], row[-2].isoformat(), row[-1] and row[-1].isoformat())) for row in rows}
    assert len(versions) == len(rows)
    return versions, {"days": recorded, "columns": signature, "segments": layout}


def definition(lake: dict[dt.date, Day]) -> set[tuple]:
    """The versions the definition gives, walking the days in order.

    A key's version runs over consecutive days it is there with equal values, comparing each value
    with the last one seen of its column since the key came (a day without the column compares
    nothing). A day the table was absent has no rows: every key ends. A day with another key than
    the day before starts a new identity: every version ends. Values compare as numbers across a
    retype between integer or numeric types (1.5 is 1.500), floating-point values by their text
    (-0.0 is not 0.0; NaN is NaN), a column once integer and once text by its text ("1" is 1),
    and kept so.
    """
    keyed = [day for day in sorted(lake) if lake[day] is not ABSENT]
    as_text = len({lake[day]["types"]["note"] for day in keyed if "note" in lake[day]["types"]}) > 1

    def kept(column: str, value: Any) -> Any:
        return str(value) if column == "note" and as_text and value is not None else value

    def equal(a: Any, b: Any) -> bool:
        return repr(a) == repr(b) if isinstance(a, float) or isinstance(b, float) else a == b

    result: set[tuple] = set()
    key: tuple | None = None
    open_versions: dict[tuple, list] = {}  # key values -> [valid_from, values, last values seen in the run]

    def close(values_of_key: tuple, valid_to: str | None) -> None:
        valid_from, values, _ = open_versions.pop(values_of_key)
        result.add(_normal((*(values.get(c) for c in COLUMNS), valid_from, valid_to)))

    for day in sorted(lake):
        today = day.isoformat()
        if lake[day] is ABSENT:
            columns, rows = [], []
        else:
            columns, rows = list(lake[day]["types"]), lake[day]["rows"]
            if key is not None and lake[day]["key"] != key:
                for values_of_key in list(open_versions):
                    close(values_of_key, today)
            key = lake[day]["key"]
        there = {tuple(row[c] for c in key): {c: kept(c, row[c]) for c in columns} for row in rows}
        for values_of_key in [k for k in open_versions if k not in there]:
            close(values_of_key, today)  # gone on a present day: deleted
        for values_of_key, row in there.items():
            if values_of_key in open_versions:
                _, _, seen = open_versions[values_of_key]
                if any(c in seen and not equal(seen[c], row[c]) for c in columns if c not in key):
                    close(values_of_key, today)
                    open_versions[values_of_key] = [today, {}, seen]
            else:
                open_versions[values_of_key] = [today, {}, {}]
            _, values, seen = open_versions[values_of_key]
            for c in columns:
                values[c] = seen[c] = row[c]
    for values_of_key in list(open_versions):
        close(values_of_key, None)
    return result


def _mostly(usual: Any, other: Any) -> st.SearchStrategy:
    return st.sampled_from([usual, usual, usual, other])


# The values a row's columns take; "note" on a day it is an integer column: "1" as 1, "x" as 2.
VALUES = {
    "weight": [0.0, -0.0, None, math.nan],
    "price": [None, Decimal("0"), Decimal("1.5"), Decimal("1.25")],
    "note": [None, "1", "x"],
    "name": [None, "a", "b"],
}


@st.composite
def arrivals(draw: st.DrawFn) -> list[tuple[int, Day]]:
    """Partitions (or ABSENT), each with its day's offset, in arrival order: mostly the next day, at
    times after a day missing, or a day that arrived before again (a rerun, with other data).

    A key's row is its last one drawn with at most one value changed, so that a change of one value
    alone (0.0 to -0.0, say) is common, and so are equal values across a retype (1.50 and 1.500).
    """
    drawn, last, newest, key = [], {}, -1, KEYS[0]
    for _ in range(draw(st.integers(2, 8))):
        step = draw(st.sampled_from(["next", "next", "gap", "again"]))
        offset = draw(st.integers(0, newest)) if step == "again" and newest >= 0 else newest + 1 + (step == "gap")
        newest = max(newest, offset)
        if draw(st.integers(0, 5)) == 0:
            drawn.append((offset, ABSENT))
            continue
        key = KEYS[(KEYS.index(key) + (draw(st.integers(0, 7)) == 0)) % 2]  # at times another key: a segment
        note = draw(st.sampled_from([None, "text", "integer"]))
        types = {
            "id": draw(_mostly("integer", "bigint")),
            "name": "text",
            "price": draw(_mostly("numeric(10,2)", "numeric(10,3)")),
            **({"note": note} if note else {}),
            "weight": "double precision",
        }
        rows = []
        for k in [k for k in range(1, 5) if draw(_mostly(True, False))]:
            if k not in last:
                last[k] = {c: draw(st.sampled_from(pool)) for c, pool in VALUES.items()}
            elif changed := draw(st.sampled_from([*VALUES, "weight", None])):
                was = repr(last[k][changed])
                last[k][changed] = draw(st.sampled_from([v for v in VALUES[changed] if repr(v) != was]))
            row = {"id": k, **last[k]}
            if "name" in key and row["name"] is None:
                row["name"] = "a"  # a key column is never NULL
            if note == "integer" and row["note"] is not None:
                row["note"] = {"1": 1, "x": 2}[row["note"]]
            elif not note:
                del row["note"]
            rows.append(row)
        drawn.append((offset, {"key": key, "types": types, "rows": rows}))
    return drawn


@settings(max_examples=250, deadline=None)  # about 25 s on 2 cores
@given(arrivals(), st.lists(_mostly(False, True), min_size=8, max_size=8))
def test_history_after_every_arrival_is_the_definition_of_the_lake_as_it_is(arrived, full_refreshes):
    """Day by day, incrementally (or whole, with --full-refresh, or when it must), always the definition."""
    con = duckdb.connect(config={"threads": 1})
    lake: dict[dt.date, Day] = {}
    built = None
    for (offset, partition), full_refresh in zip(arrived, full_refreshes, strict=False):
        day = FIRST + dt.timedelta(days=offset)
        if partition is not ABSENT or lake.get(day) is ABSENT:
            lake[day] = partition  # the catalog's absence never hides a partition the lake holds
        versions, built = history(con, lake, built, full_refresh)
        assert versions == definition(lake)  # prices: Decimal("1.50") == Decimal("1.500"), and hash alike
