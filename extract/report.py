"""What the ledger and the warehouse say: the run summary and ``status``."""

from __future__ import annotations

import shlex
from contextlib import closing

import psycopg2

from . import duck, ledger, ledger_rebuild
from .config import REPO_ROOT, Settings, Unreachable, connect, first_line, redact, scrub
from .export import published_day
from .history import note_lines
from .postgres import attach
from .sql import quote

__all__ = ["print_status", "print_summary", "rerun_command", "unrecorded_line"]

MARKS = {
    "success": "✓",
    "failed": "✗",
    "refused": "!",
    "interrupted": "✗",
    "running": "…",
    "upstream_failed": "⊘",
    "outdated": "○",
}
RERUN = {
    "extract_postgres": "make extract load export",
    "extract_csv": "make extract load export",
    "load": "make load export",
    "export": "make export",
}
# The ledger's inputs that name the run's servers (``pipeline._run_databases``), as the settings they came from.
DATABASES = ("source_dsn", "warehouse_dsn")


def rerun_command(entries: list[dict], date: str, lake: str | None = None) -> str | None:
    """The command that resumes ``date`` from its first step that did not succeed, or None.

    It repeats the inputs the ledger recorded for the day's steps (CSV, format, the source
    tables taken, target, a source and warehouse of the user's without their passwords,
    which libpq finds as it did), and the lake when it is not the default one (``lake``).
    """
    by_step = {entry["step"]: entry for entry in entries}
    for step in ledger.STEPS:
        entry = by_step.get(step)
        if entry is None or entry["status"] != "success":
            if entry is None:
                return None
            if entry["status"] == "refused":  # refused on its input: step 1 again
                step = ledger.STEPS[0]
            inputs: dict = {}
            for earlier in by_step.values():
                inputs.update(earlier.get("inputs", {}))
            settings = [f"DATE={date}"]
            if inputs.get("csv"):
                settings.append(f"ORDER_DETAILS_CSV={shlex.quote(inputs['csv'])}")
            if inputs.get("format", "parquet") != "parquet":
                settings.append(f"FORMAT={inputs['format']}")
            settings += [f"{name}={shlex.quote(value)}" for name, value in inputs.get("tables", {}).items()]
            if inputs.get("target", "lakehouse") != "lakehouse":
                settings.append(f"TARGET={inputs['target']}")
            settings += [f"{name.upper()}={shlex.quote(inputs[name])}" for name in DATABASES if inputs.get(name)]
            lake_setting = [f"LAKEHOUSE_DATA={shlex.quote(lake)}"] if lake else []
            return " ".join([*lake_setting, RERUN[step], *settings])
    return None


DEFAULT_LAKE = str(REPO_ROOT / "data")
PUBLISHED = "select nspname, obj_description(oid, 'pg_namespace') from pg_namespace where nspname in ('raw', 'marts')"
PUBLISHED_RUNS = "select ledger_run from lakehouse.publications where ledger_run = any(%s)"


def _warehouse(settings: Settings, runs: list[str]) -> tuple[dict[str, str | None], set[str]] | str:
    """The day ``raw`` and ``marts`` each publish, and which of the ledger's ``runs`` published;
    or why the warehouse cannot say."""
    dsn = settings.dsn("warehouse")
    try:
        with closing(connect(dsn, connect_timeout=5)) as conn, conn.cursor() as cursor:
            cursor.execute(PUBLISHED)
            notes = dict(cursor.fetchall())
            cursor.execute("select to_regclass('lakehouse.publications') is not null")
            published = set()
            if cursor.fetchone()[0]:
                cursor.execute(PUBLISHED_RUNS, (runs,))
                published = {run for (run,) in cursor.fetchall()}
    except Unreachable as exc:
        return f"warehouse: {exc}"
    except psycopg2.Error as exc:  # reached, but the role may not read what status asks
        return f"warehouse {redact(dsn)}: {scrub(first_line(exc), [dsn])}"
    days = {schema: published_day(notes.get(schema)) for schema in ("raw", "marts")}
    return days, published


def published_line(days: dict[str, str | None], loaded: list[str]) -> str:
    """What readers of the warehouse see: the day ``raw`` and ``marts`` publish, against the
    newest of the days ``loaded`` (those whose load succeeded)."""
    if days["raw"] != days["marts"]:
        return f"warehouse publishes raw {days['raw'] or 'nothing'} and marts {days['marts'] or 'nothing'}"
    day = days["raw"]
    line = f"warehouse publishes {day} (raw and marts)" if day else "warehouse publishes nothing yet"
    newest = max(loaded, default=None)
    if newest and newest != day:
        line += f"; the newest day loaded is {newest}: make load DATE={newest} publishes it again"
    return line


def unrecorded_line(days: list[str], lake: str | None = None) -> str:
    """What ``make status`` says of the ``days`` the lake holds partitions of and the ledger does not
    record (a lost ledger), with the command that rebuilds it; ``lake`` when it is not the default one."""
    span = days[0] if len(days) == 1 else f"{days[0]} .. {days[-1]}"
    command = " ".join([*([f"LAKEHOUSE_DATA={shlex.quote(lake)}"] if lake else []), "make ledger-rebuild"])
    return (
        f"the ledger has no record of {len(days)} day{'' if len(days) == 1 else 's'} the lake holds ({span}): "
        f"{command} rebuilds it from their manifests"
    )


def print_status(settings: Settings, date: str | None) -> None:
    """Print the ledger: every date, or one in detail, with the command that resumes a failed date,
    the days the lake holds that the ledger does not record, and the day the warehouse publishes."""
    every = ledger.read(settings.lake)
    entries = [entry for entry in every if date is None or entry["date"] == date]
    lake = None if settings.lake_url == DEFAULT_LAKE else settings.lake_url
    lost = [
        day
        for day in ledger_rebuild.unrecorded(ledger_rebuild.lake_days(settings.lake), every)
        if date is None or day == date
    ]
    if not entries:
        print(f"no runs recorded{' for ' + date if date else ''} in {settings.lake.url('_ledger')}")
        if lost:
            print(unrecorded_line(lost, lake))
        return
    loads = [entry for entry in every if entry["step"] == "load"]
    warehouse = _warehouse(settings, [e["run"] for e in loads if e.get("run")])
    if not isinstance(warehouse, str):
        for entry in loads:  # killed after its publish committed, before its ledger said so
            if entry["status"] == "interrupted" and entry.get("run") in warehouse[1]:
                entry.update(status="success", error=None, note="published; its process ended before recording it")
    by_date: dict[str, dict[str, dict]] = {}
    for entry in entries:
        by_date.setdefault(entry["date"], {})[entry["step"]] = entry
    print("date        " + "  ".join(f"{step:<18}" for step in ledger.STEPS))
    for day, steps in by_date.items():
        cells = []
        for step in ledger.STEPS:
            entry = steps.get(step)
            rows = (
                ""
                if entry is None or entry["status"] in ("refused", "upstream_failed", "outdated")
                else entry.get("rows", "")
            )
            cell = "—" if entry is None else f"{MARKS[entry['status']]} {rows}"
            cells.append(f"{cell:<18}")
        print(f"{day}  " + "  ".join(cells))
        for step in ledger.STEPS:
            entry = steps.get(step)
            if entry and (entry.get("error") or entry.get("note")):
                print(f"            {step}: {entry['status']}: {(entry.get('error') or entry['note']).splitlines()[0]}")
        for line in load_notes(steps.get("load")):
            print(f"            {line}")
        if date:
            for step in ledger.STEPS:
                entry = steps.get(step)
                if entry:
                    print(
                        f"            {step}: started {entry['started_at']}, finished {entry.get('finished_at', '-')}, "
                        f"{entry.get('duration_s', '-')} s, {entry.get('rows', 0)} rows, {entry.get('bytes', 0)} bytes"
                        + (f", rebuilt from its manifests at {entry.get('rebuilt_at')}" if entry.get("rebuilt") else "")
                    )
        command = rerun_command(list(steps.values()), day, lake)
        if command:
            print(f"            rerun: {command}")
    if lost:
        print(unrecorded_line(lost, lake))
    loaded = [e["date"] for e in loads if e["status"] == "success"]
    print(warehouse if isinstance(warehouse, str) else published_line(warehouse[0], loaded))


def _count(con, relation: str) -> int:
    return con.execute(f"select count(*) from {relation}").fetchone()[0]


def load_notes(load: dict | None) -> list[str]:
    """What a load's entry says of the history it kept and of users' objects it could not keep."""
    details = load.get("details", {}) if load else {}
    return note_lines(details.get("history", {})) + [f"not kept: {line}" for line in details.get("not_kept", [])]


def print_summary(settings: Settings, date: str) -> None:
    """Print rows extracted per table, rows in the warehouse, dbt test results and evidence paths."""
    entries = {entry["step"]: entry for entry in ledger.read(settings.lake, date)}
    partitions = [p for step in ("extract_postgres", "extract_csv") for p in entries[step]["details"]["partitions"]]
    with duck.connect() as con:
        attach(con, settings.dsn("warehouse"), "warehouse", read_only=True)
        loaded = {p["table"]: _count(con, f"warehouse.raw.{quote(p['table'])}") for p in partitions}
        mart = _count(con, "warehouse.marts.order_lines")
    print(f"\nsummary for {date}")
    print(f"  {'table':<36}{'lake rows':>12}{'warehouse rows':>16}  reconciled")
    for part in partitions:
        sums = ", ".join(f"sum({name})" for name in part.get("checksums", {})) or "-"
        print(
            f"  {part['source'] + '/' + part['table']:<36}{part['rows']:>12}{loaded[part['table']]:>16}  rows, {sums}"
        )
    print(f"  {'marts.order_lines':<36}{'':>12}{mart:>16}")
    for step in ("extract_postgres", "extract_csv"):
        for change in entries[step]["details"].get("drift", []):
            print(f"  schema drift: {change}")
    for line in load_notes(entries["load"]):
        print(f"  {line}")
    tests = entries["load"]["details"]["tests"]
    print("  dbt tests: " + (", ".join(f"{n} {status}" for status, n in sorted(tests.items())) or "none recorded"))
    for path in entries["export"]["details"]["paths"]:
        print(f"  evidence: {path}")
