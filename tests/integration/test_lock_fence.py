"""A load that loses the warehouse's writer lock publishes nothing, whenever it loses it: its
session ended by a DBA before its build, during it, or unnoticed until its publish; and the run
that takes the lock next builds and publishes its day whole, untouched by the first."""

from __future__ import annotations

import socket
import sys

from helpers import cli, published, query, start, wait_until

from extract import writer_lock
from extract.writer_lock import KEYS

DAY2, DAY3 = "2024-01-16", "2024-01-17"
LOCKED = "select count(*) from pg_locks where locktype = 'advisory' and granted and classid = %s and objid = %s"
CLAIMED = "select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = 'raw__next'"
TERMINATE = "select pg_terminate_backend(pid) from pg_stat_activity where application_name = %s"


def load_losing_its_lock(env: dict, dsn: str, ready, **variables: str):
    """``make load`` of DAY2 whose lock session a DBA terminates once ``ready()``; the process, still running."""
    load = start([sys.executable, "-m", "extract", "load", "--date", DAY2], {**env, **variables})
    wait_until(ready, process=load, every=0.02)
    assert query(dsn, TERMINATE, (f"lakehouse load {DAY2}, pid {load.pid} on {socket.gethostname()}",)) == [(True,)]
    return load


def test_a_load_that_loses_its_lock_publishes_nothing_and_the_next_one_publishes_whole(loaded, lake_env, tmp_path):
    settings, dsn = loaded, loaded.dsn("warehouse")
    before = published(settings)
    other_lake = {**lake_env, "LAKEHOUSE_DATA": str(tmp_path / "other"), "DBT_TARGET_PATH": str(tmp_path / "target")}
    assert cli(lake_env, "extract", "--date", DAY2).returncode == 0
    assert cli(other_lake, "extract", "--date", DAY3, "--csv", str(settings.demo_csv)).returncode == 0
    held = lambda: query(dsn, LOCKED, KEYS)[0][0]  # noqa: E731
    mid_build = lambda: held() and (query(dsn, CLAIMED) or [(None,)])[0][0]  # noqa: E731

    # Before its build: the watchdog notices within a second, and the run stops.
    load = load_losing_its_lock(lake_env, dsn, held)
    output = load.communicate(timeout=300)[0]
    assert load.returncode == 75, output[-3000:]
    assert "error: the lock warehouse writer lock was lost (its session ended: " in output
    assert published(settings) == before

    # Unnoticed until the publish (no watchdog), with another writer holding the lock by then:
    # the publish's fence refuses, naming it.
    load = load_losing_its_lock(lake_env, dsn, mid_build, LAKEHOUSE_LOCK_WATCH_S="3600")
    writer_lock.acquire(dsn, "the next writer", "test")
    try:
        output = load.communicate(timeout=300)[0]
    finally:
        writer_lock.release("test")
    assert load.returncode == 75, output[-3000:]
    assert "error: the warehouse writer lock was lost: taken since by the next writer" in output
    assert published(settings) == before

    # During its build, with a load from another lake started at once: the first stops before
    # the next resets the "__next" schemas, and the next builds and publishes its own day.
    load = load_losing_its_lock(lake_env, dsn, mid_build)
    second = cli(other_lake, "load", "--date", DAY3)
    output = load.communicate(timeout=300)[0]
    assert load.returncode == 75, output[-3000:]
    assert "was lost (its session ended" in output
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr
    assert published(settings)["marts"]["note"] == f"run_date {DAY3}"
