"""Interrupted, never confused: SIGINT or SIGTERM mid-step ends the command with one line on
stderr, exit 130 or 143, and the step recorded as interrupted, not failed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import closing

import psycopg2
import pytest
from helpers import DAY, cli, published, query, rerun_databases, start, wait_until

from extract import ledger

DAY2, DAY3 = "2024-01-16", "2024-01-17"


def _entry(settings, date: str, step: str) -> dict:
    """The step's entry as the run wrote it (not as ``ledger.read`` reports a dead 'running' one)."""
    return json.loads((settings.data_dir / "_ledger" / date / f"{step}.json").read_text())


def _interrupt(process: subprocess.Popen, signum: int, underway) -> tuple[str, float]:
    """Send ``signum`` to the process group of ``process`` (as Ctrl-C or Airflow does) once
    ``underway()`` holds; the one line it ends with on stderr, and the seconds it took to end."""
    wait_until(underway, 120, process)
    os.killpg(process.pid, signum)
    sent = time.monotonic()
    stdout, stderr = process.communicate(timeout=60)
    seconds = time.monotonic() - sent
    assert "Traceback" not in stdout + stderr, stdout[-3000:] + stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0], seconds


def _waiting_on_a_lock(settings) -> bool:
    """Whether a query of the source waits for a lock (the one the test holds)."""
    waiting = "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()"
    return query(settings.dsn("source"), waiting)[0][0] > 0


def _started(env: dict[str, str], *args: str) -> subprocess.Popen:
    """`python -m extract <args>`, its stderr apart."""
    return start([sys.executable, "-m", "extract", *args], env, stderr=subprocess.PIPE)


def test_sigint_during_extract_is_recorded_interrupted_in_one_line(demo, lake_env):
    # The source's orders are locked: step 1 waits on them, in a worker thread deep in a source
    # query that nothing interrupts, until the process ends.
    with closing(psycopg2.connect(demo.dsn("source"))) as holder:
        holder.cursor().execute("lock table orders in access exclusive mode")
        process = _started(lake_env, "extract", "--date", DAY2)
        line, seconds = _interrupt(process, signal.SIGINT, lambda: _waiting_on_a_lock(demo))
        holder.rollback()

    assert process.returncode == 130, line
    rerun = (
        f"rerun: LAKEHOUSE_DATA={lake_env['LAKEHOUSE_DATA']} make extract load export DATE={DAY2}"
        + rerun_databases(lake_env)
    )
    assert re.fullmatch(
        rf"error: interrupted \(SIGINT\) during extract_postgres( and extract_csv)? for {DAY2}; {re.escape(rerun)}",
        line,
    )
    assert seconds < 10  # it does not wait for the source
    entry = _entry(demo, DAY2, "extract_postgres")
    assert (entry["status"], entry["error"]) == ("interrupted", "stopped by SIGINT")
    assert not (demo.data_dir / "postgres" / "orders" / DAY2 / "_manifest.json").exists()
    status = cli(lake_env, "status", "--date", DAY2).stdout
    assert "extract_postgres: interrupted: stopped by SIGINT" in status
    assert rerun in status
    (row,) = [text for text in status.splitlines() if text.startswith(DAY2)]
    assert row.split()[1] == "✗", status

    # Its locks went with it: the rerun runs at once, over what the interrupted run left.
    again = cli(lake_env, "extract", "--date", DAY2)
    assert again.returncode == 0, again.stderr
    assert {e["step"]: e["status"] for e in ledger.read(demo.lake, DAY2)} == {
        "extract_postgres": "success",
        "extract_csv": "success",
    }
    assert not list(demo.data_dir.glob(f"postgres/*/{DAY2}/.*.tmp"))


def test_sigterm_stops_a_backfill_where_it_is(demo, lake_env):
    with closing(psycopg2.connect(demo.dsn("source"))) as holder:
        holder.cursor().execute("lock table orders in access exclusive mode")
        process = _started(lake_env, "backfill", "--from", DAY2, "--to", DAY3)
        line, _ = _interrupt(process, signal.SIGTERM, lambda: _waiting_on_a_lock(demo))
        holder.rollback()

    assert process.returncode == 143, line
    assert line.startswith("error: interrupted (SIGTERM) during extract_postgres")
    assert _entry(demo, DAY2, "extract_postgres")["status"] == "interrupted"
    assert not (demo.data_dir / "_ledger" / DAY3).exists()  # the next day never started


@pytest.mark.parametrize(
    ("signum", "moment"),
    [
        pytest.param(signal.SIGINT, "as dbt starts", id="SIGINT as dbt starts"),
        pytest.param(signal.SIGTERM, "while dbt builds the models", id="SIGTERM while dbt builds"),
    ],
)
def test_a_signal_during_load_is_recorded_interrupted_and_publishes_nothing(demo, lake_env, signum, moment):
    warehouse = demo.dsn("warehouse")
    running = demo.data_dir / "_ledger" / DAY / "load.json"
    building = "select count(*) from information_schema.tables where table_schema = 'marts__next'"
    underway = {
        "as dbt starts": lambda: running.exists(),
        "while dbt builds the models": lambda: query(warehouse, building)[0][0] > 0,
    }[moment]
    process = _started(lake_env, "load", "--date", DAY)
    line, seconds = _interrupt(process, signum, underway)

    name = signal.Signals(signum).name
    assert process.returncode == 128 + signum, line
    lake = lake_env["LAKEHOUSE_DATA"]
    rerun = f"rerun: LAKEHOUSE_DATA={lake} make load export DATE={DAY}" + rerun_databases(lake_env)
    assert line == f"error: interrupted ({name}) during load for {DAY}; {rerun}"
    assert seconds < 20
    entry = _entry(demo, DAY, "load")
    assert (entry["status"], entry["error"]) == ("interrupted", f"stopped by {name}")
    assert published(demo)["raw"]["note"] is published(demo)["marts"]["note"] is None  # nothing of the day published
    assert query(warehouse, "select to_regclass('lakehouse.publications') is null") == [(True,)]
    # The writer lock went with its connection.
    assert query(warehouse, "select count(*) from pg_locks where locktype = 'advisory'") == [(0,)]
