"""One writer on the warehouse, whatever lake, target or command it comes from: a load paused
mid-build keeps every other writer out, and publishes only the schemas it built itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from helpers import DAY, assert_whole, cli, dbt, published, query, start, wait_until

from extract.config import REPO_ROOT
from extract.dbt import dbt_env
from extract.writer_lock import KEYS

DAY2, DAY3 = "2024-01-16", "2024-01-17"
CLAIMED = "select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = 'raw__next'"
LOCKED = "select count(*) from pg_locks where locktype = 'advisory' and granted and classid = %s and objid = %s"


def test_a_paused_load_keeps_other_lakes_and_bare_dbt_out_and_publishes_only_its_own_build(loaded, lake_env, tmp_path):
    settings, dsn = loaded, loaded.dsn("warehouse")
    before = published(settings)
    other_lake = {**lake_env, "LAKEHOUSE_DATA": str(tmp_path / "other"), "DBT_TARGET_PATH": str(tmp_path / "target")}
    assert cli(lake_env, "extract", "--date", DAY2).returncode == 0
    assert cli(other_lake, "extract", "--date", DAY3, "--csv", str(settings.demo_csv)).returncode == 0

    first = start([sys.executable, "-m", "extract", "load", "--date", DAY2], lake_env)
    try:
        # Paused once it holds the writer lock and has claimed its "__next" schemas.
        wait_until(lambda: query(dsn, LOCKED, KEYS)[0][0] and (query(dsn, CLAIMED) or [(None,)])[0][0], process=first)
        os.killpg(first.pid, signal.SIGSTOP)
        holder = f"the warehouse is being written by lakehouse load {DAY2}, pid {first.pid}"

        # A load from another lake: refused at once, exit 75, naming the holder.
        second = cli(other_lake, "load", "--date", DAY3)
        assert second.returncode == 75, second.stdout + second.stderr
        assert holder in second.stderr
        assert published(settings) == before

        # A bare dbt build on that lake, as a user types it: refused before any hook, with exit 75 as
        # the CLI's (a scheduler retries it), the holder named and no traceback.
        bare = subprocess.run(
            [Path(sys.executable).with_name("dbt"), "build", "--project-dir", "dbt_project", "--profiles-dir", "."],
            env={
                **dbt_env(settings),
                **other_lake,
                "LAKEHOUSE_STATE": other_lake["LAKEHOUSE_DATA"],
                "LAKEHOUSE_RUN_DATE": DAY3,
            },
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert bare.returncode == 75, bare.stdout[-3000:] + bare.stderr[-3000:]
        assert holder in bare.stdout and "Traceback" not in bare.stdout + bare.stderr
        # In this process (dbtRunner, as the CLI runs dbt), dbt-postgres too, though it opens a
        # connection of its own for every node.
        bare = dbt(settings, "build", "--target", "postgres", env={"LAKEHOUSE_RUN_DATE": DAY2})
        assert not bare.success and holder in bare.output, bare.output[-3000:]
        assert published(settings) == before

        # A writer that ignored the lock takes the twins over: the paused load must not publish them.
        query(dsn, "comment on schema raw__next is 'building another run'")
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    output = first.communicate(timeout=300)[0]
    assert first.returncode == 12, output[-3000:]
    assert "raw__next was rebuilt by another run: nothing published" in output
    assert published(settings) == before
    assert cli(lake_env, "status").stdout.strip().endswith(f"warehouse publishes {DAY} (raw and marts)")

    # dbt run directly publishes the day whole once the lock is free; status tells it from the ledger.
    assert dbt(settings, "build", env={"LAKEHOUSE_RUN_DATE": DAY2}).success
    assert_whole(settings, DAY2)
    assert query(dsn, LOCKED, KEYS) == [(0,)]
    assert (
        cli(lake_env, "status")
        .stdout.strip()
        .endswith(
            f"warehouse publishes {DAY2} (raw and marts); the newest day loaded is {DAY}: "
            f"make load DATE={DAY} publishes it again"
        )
    )
