"""History (macros/history.sql) equals its definition, on random lakes, whatever order the days arrive in.

The macros are rendered with plain Jinja and run on DuckDB, as dbt-duckdb runs them; the
definition is computed here independently, day by day.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import jinja2
from hypothesis import given, settings
from hypothesis import strategies as st

from extract.sql import quote

MACROS = Path(__file__).resolve().parents[2] / "dbt_project" / "macros"
KEY = ["id"]
COLUMNS = ["id", "name", "price", "note"]  # "note" comes and goes: added and dropped between days
FIRST = dt.date(2024, 3, 1)


def _macros():
    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    return env.from_string((MACROS / "lake.sql").read_text() + (MACROS / "history.sql").read_text()).module


MACRO = _macros()


def _literal(value) -> str:
    return "null" if value is None else repr(value) if isinstance(value, int) else "'" + value.replace("'", "''") + "'"


def _relation(columns: list[str], rows: list[dict]) -> str:
    """A day's rows as a table expression with the lake's types."""
    types = {"id": "integer", "name": "varchar", "price": "decimal(10,2)", "note": "varchar"}
    select = ", ".join(f"cast(col{i} as {types[c]}) as {quote(c)}" for i, c in enumerate(columns))
    if not rows:
        empty = ", ".join(f"cast(null as {types[c]}) as {quote(c)}" for c in columns)
        return f"(select {empty} where false)"
    values = ", ".join("(" + ", ".join(_literal(row.get(c)) for c in columns) + ")" for row in rows)
    return f"(select {select} from (values {values}))"


TYPES = {"id": "integer", "name": "varchar", "price": "decimal(10,2)", "note": "varchar"}
PUBLISHED = f"create table {{name}} ({', '.join(f'{c} {t}' for c, t in TYPES.items())}, valid_from date, valid_to date)"


def history(con: duckdb.DuckDBPyConnection, lake: dict, built: dict | None, full_refresh: bool) -> tuple[set, dict]:
    """The versions a load publishes, as the project builds them: from the published ones and the
    days that changed since (``built``: what those were built from), or whole; and what it built from."""
    present = [{"day": day.isoformat(), "sha256": repr(lake[day]), "columns": lake[day][0]} for day in sorted(lake)]
    names = sorted({name for day in present for name in day["columns"]})
    since = str(MACRO.lake_history_since(built, present, ",".join(names), names, full_refresh)).strip()
    days = [
        {"day": day["day"], "relation": _relation(*lake[dt.date.fromisoformat(day["day"])]), "columns": day["columns"]}
        for day in present
        if day["day"] >= since
    ]
    con.execute("create or replace temp table snapshots as " + str(MACRO.lake_history_snapshots(days, COLUMNS)))
    assert con.sql(str(MACRO.lake_history_duplicates("snapshots", days, KEY, COLUMNS))).fetchall() == []
    con.execute("drop table if exists next")
    con.execute(PUBLISHED.format(name="next"))
    con.execute("insert into next " + str(MACRO.lake_history_versions("snapshots", days, KEY, COLUMNS, bool(since))))
    if since:
        for statement in str(
            MACRO.lake_history_merge("next", "published", KEY, {c: f"o.{c}" for c in COLUMNS}, since)
        ).split(";"):
            con.execute(statement)
    con.execute("drop table if exists published")
    con.execute("alter table next rename to published")
    rows = con.sql("select * from published").fetchall()
    versions = {(*row[:-2], row[-2].isoformat(), row[-1] and row[-1].isoformat()) for row in rows}
    assert len(versions) == len(rows)
    return versions, {"days": {day["day"]: day["sha256"] for day in present}, "columns": ",".join(names)}


def definition(lake: dict[dt.date, tuple[list[str], list[dict]]]) -> set[tuple]:
    """The versions the definition gives, walking the present days in order."""
    days = sorted(lake)
    result, open_versions = set(), {}  # key -> [valid_from, values, last values seen in the run]

    def close(key, valid_to):
        valid_from, values, _ = open_versions.pop(key)
        result.add((key, *(values.get(c) for c in COLUMNS[1:]), valid_from, valid_to))

    for day in days:
        columns, rows = lake[day]
        present = {row["id"]: row for row in rows}
        for key in [k for k in open_versions if k not in present]:
            close(key, day.isoformat())  # gone on a present day: deleted
        for key, row in present.items():
            if key in open_versions:
                _, _, seen = open_versions[key]
                if any(c in seen and seen[c] != row.get(c) for c in columns if c != "id"):
                    close(key, day.isoformat())
                    open_versions[key] = [day.isoformat(), {}, seen]
            else:
                open_versions[key] = [day.isoformat(), {}, {}]
            _, values, seen = open_versions[key]
            for c in columns:
                if c != "id":
                    values[c] = seen[c] = row.get(c)
    for key in list(open_versions):
        close(key, None)
    return result


values = st.one_of(st.none(), st.sampled_from(["a", "b"]))
prices = st.one_of(st.none(), st.sampled_from([0, 1]))
snapshot = st.tuples(
    st.booleans(),
    st.dictionaries(st.integers(1, 4), st.tuples(values, prices, values), max_size=4),
).map(
    lambda drawn: (
        COLUMNS if drawn[0] else COLUMNS[:3],
        [
            {"id": k, "name": n, "price": p, **({"note": note} if drawn[0] else {})}
            for k, (n, p, note) in sorted(drawn[1].items())
        ],
    )
)
# Arrivals: (day offset, snapshot), in arrival order; a day that arrives again is a rerun with other data.
arrivals = st.lists(st.tuples(st.integers(0, 9), snapshot), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(arrivals, st.lists(st.booleans(), min_size=8, max_size=8))
def test_history_after_every_arrival_is_the_definition_of_the_lake_as_it_is(arrived, full_refreshes):
    """Day by day, incrementally (or whole, with --full-refresh, or when it must), always the definition."""
    con = duckdb.connect()
    lake: dict[dt.date, tuple[list[str], list[dict]]] = {}
    built = None
    for (offset, day_snapshot), full_refresh in zip(arrived, full_refreshes, strict=False):
        lake[FIRST + dt.timedelta(days=offset)] = day_snapshot
        versions, built = history(con, lake, built, full_refresh)
        assert versions == definition(lake)  # prices: Decimal("1.00") == 1, and hash alike
