"""Run control: kills mid-write, reruns, backfills, locks, unreachable sources."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys

import pytest
from helpers import cli, kill_when, query, run_real_northwind, shell_env, start

from extract import ledger, pipeline
from extract.config import REPO_ROOT, load_settings, redact, without_secrets
from extract.lake import PartitionError, partition_dir, verify
from extract.source import load_dump

DAY1, DAY2, DAY3 = "2024-01-15", "2024-01-16", "2024-01-17"


def _status(settings, date: str) -> dict[str, str]:
    return {entry["step"]: entry["status"] for entry in ledger.read(settings.lake, date)}


def _no_partition_looks_complete_but_is_not(settings, date: str) -> None:
    for manifest_file in settings.data_dir.glob(f"*/*/{date}/_manifest.json"):
        source, table = manifest_file.parent.parent.parent.name, manifest_file.parent.parent.name
        verify(settings.lake, source, table, date)


def _digest(dsn: str, table: str) -> str:
    rows = query(dsn, f"select * from {table}")
    return hashlib.sha256(repr(sorted(repr(row) for row in rows)).encode()).hexdigest()


@pytest.fixture()
def scaled_source(settings, lake_env):
    """A demo source large enough (SF 50) that steps take long enough to be killed mid-way."""
    result = cli(lake_env, "seed", "--scale", "50", "--force", "--into", redact(lake_env["SOURCE_DSN"]))
    assert result.returncode == 0, result.stderr
    return settings


def test_sigkill_during_extraction_then_a_clean_rerun(scaled_source, lake_env):
    settings = scaled_source
    process = start([sys.executable, "-m", "extract", "extract", "--date", DAY1], lake_env)
    running = settings.data_dir / "_ledger" / DAY1 / "extract_postgres.json"
    kill_when(process, lambda: running.exists() and any(settings.data_dir.glob("postgres/*/*/.*.tmp")))

    assert _status(settings, DAY1)["extract_postgres"] == "interrupted"
    _no_partition_looks_complete_but_is_not(settings, DAY1)
    refused = cli(lake_env, "load", "--date", DAY1)
    assert refused.returncode == 12 and "Running with dbt" not in refused.stdout  # decided before dbt starts
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"error: step 2 (load) refused for {DAY1}: extract_postgres is running or was interrupted")
    assert _status(settings, DAY1)["load"] == "refused"
    rerun = f"rerun: LAKEHOUSE_DATA={lake_env['LAKEHOUSE_DATA']} make extract load export DATE=2024-01-15"
    assert rerun in cli(lake_env, "status", "--date", DAY1).stdout

    assert cli(lake_env, "extract", "--date", DAY1).returncode == 0
    assert not list(settings.data_dir.glob("postgres/*/*/.*.tmp"))
    assert cli(lake_env, "load", "--date", DAY1).returncode == 0
    assert query(settings.dsn("warehouse"), "select count(*) from raw.orders") == [(41500,)]


def test_sigkill_during_load_leaves_the_previous_day_published(
    settings, lake_env, northwind_sql, order_details_csv, tmp_path
):
    run_real_northwind(settings, lake_env, northwind_sql, order_details_csv, DAY1)
    day1 = _digest(settings.dsn("warehouse"), "marts.order_lines")

    fewer = tmp_path / "fewer.csv"
    fewer.write_text("\n".join(order_details_csv.read_text().splitlines()[:1001]) + "\n")
    assert cli(lake_env, "extract", "--date", DAY2, "--csv", str(fewer)).returncode == 0
    process = start([sys.executable, "-m", "extract", "load", "--date", DAY2], lake_env)
    building = "select count(*) from information_schema.tables where table_schema = 'marts__next'"
    kill_when(process, lambda: query(settings.dsn("warehouse"), building)[0][0] > 0)

    # Readers still see day 1 whole: raw and marts agree, nothing of day 2.
    assert _digest(settings.dsn("warehouse"), "marts.order_lines") == day1
    assert query(settings.dsn("warehouse"), "select count(*) from raw.order_details") == [(2155,)]
    assert _status(settings, DAY2)["load"] == "interrupted"

    # The rerun, killed the moment its publish commits (before or after its ledger says so): the
    # warehouse's own record of the publish (lakehouse.publications) names the ledger's run.
    process = start([sys.executable, "-m", "extract", "load", "--date", DAY2], lake_env)
    published_note = "select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = 'marts'"
    kill_when(process, lambda: query(settings.dsn("warehouse"), published_note) == [(f"run_date {DAY2}",)])
    status = cli(lake_env, "status", "--date", DAY2).stdout
    assert "interrupted" not in status, status
    (row,) = [line for line in status.splitlines() if line.startswith(DAY2)]
    assert row.split()[5] == "✓", status  # date, two step-1 cells, then load's
    assert status.strip().endswith(f"warehouse publishes {DAY2} (raw and marts)")
    runs = [e["run"] for e in ledger.read(settings.lake, DAY2) if e["step"] == "load"]
    published_runs = "select ledger_run from lakehouse.publications where run_date = %s"
    assert query(settings.dsn("warehouse"), published_runs, (DAY2,)) == [(runs[0],)]
    assert query(settings.dsn("warehouse"), "select count(*) from marts.order_lines") == [(1000,)]
    assert query(settings.dsn("warehouse"), "select count(*) from raw.order_details") == [(1000,)]


def test_reruns_give_identical_lake_bytes_and_warehouse_rows(settings, lake_env, northwind_sql, order_details_csv):
    load_dump(settings.dsn("source"), northwind_sql)
    outcomes = []
    for _ in range(2):
        assert cli(lake_env, "run", "--date", DAY1, "--csv", str(order_details_csv)).returncode == 0
        checksums = {
            p: json.loads(p.read_text())["sha256"] for p in settings.data_dir.glob(f"*/*/{DAY1}/_manifest.json")
        }
        rows = {t: _digest(settings.dsn("warehouse"), t) for t in ("raw.orders", "raw.categories", "marts.order_lines")}
        evidence = (settings.data_dir / "exports" / DAY1 / "orders_with_details.csv").read_bytes()
        outcomes.append((checksums, rows, evidence))
    assert len(outcomes[0][0]) == 14
    assert outcomes[0] == outcomes[1]


def test_backfill_of_three_days_with_one_failing(settings, lake_env, northwind_sql, order_details_csv, tmp_path):
    load_dump(settings.dsn("source"), northwind_sql)
    for day in (DAY1, DAY3):  # DAY2's file never arrived
        (tmp_path / f"order_details_{day}.csv").write_text(order_details_csv.read_text())
    result = cli(
        lake_env, "backfill", "--from", DAY1, "--to", DAY3, "--csv", str(tmp_path / "order_details_{date}.csv")
    )
    assert result.returncode == 6
    assert f"{DAY2}  FAILED: step extract_csv failed" in result.stdout
    assert f"{DAY1}  ok" in result.stdout and f"{DAY3}  ok" in result.stdout
    for day in (DAY1, DAY3):
        assert set(_status(settings, day).values()) == {"success"}
        assert (settings.data_dir / "exports" / day / "orders_with_details.csv").exists()
    assert _status(settings, DAY2) == {"extract_postgres": "success", "extract_csv": "failed"}
    # The warehouse now publishes DAY3: evidence for another day is refused, not mislabelled.
    stale = cli(lake_env, "export", "--date", DAY1)
    assert stale.returncode == 13
    assert f"the warehouse publishes {DAY3} run date, not {DAY1}: run make load DATE={DAY1} first" in stale.stderr
    assert not (settings.data_dir / partition_dir("csv", "order_details", DAY2)).exists()
    with pytest.raises(PartitionError):
        verify(settings.lake, "csv", "order_details", DAY2)


def test_a_rerun_as_printed_repeats_the_days_inputs_and_the_demo_csv_serves_only_the_demo(demo, lake_env, tmp_path):
    drops = tmp_path / "drops"
    template = f"{drops}/od_{{date}}.csv"
    failed = cli(lake_env, "run", "--date", DAY2, "--csv", template, "--format", "csv")
    assert failed.returncode == 11 and f"{drops}/od_{DAY2}.csv: file not found" in failed.stderr
    (line,) = [
        line.strip() for line in cli(lake_env, "status").stdout.splitlines() if line.strip().startswith("rerun:")
    ]
    databases = {f"{role}_dsn": without_secrets(lake_env[f"{role.upper()}_DSN"]) for role in ("source", "warehouse")}
    assert line == (
        f"rerun: LAKEHOUSE_DATA={lake_env['LAKEHOUSE_DATA']} make extract load export DATE={DAY2} "
        f"ORDER_DETAILS_CSV={shlex.quote(template)} FORMAT=csv "
        f"SOURCE_DSN={shlex.quote(databases['source_dsn'])} WAREHOUSE_DSN={shlex.quote(databases['warehouse_dsn'])}"
    )

    # The day's file arrives; the printed line, run as it is, loads that file and no other, from and
    # into the databases the run had: the shell it is pasted in names none.
    drops.mkdir()
    lines = demo.demo_csv.read_text().splitlines()
    (drops / f"od_{DAY2}.csv").write_text("\n".join(lines[:101]) + "\n")
    named = ("LAKEHOUSE_DATA", "SOURCE_DSN", "WAREHOUSE_DSN")
    env = shell_env({key: value for key, value in lake_env.items() if key not in named})
    rerun = subprocess.run(
        line.removeprefix("rerun: "), shell=True, cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert query(demo.dsn("warehouse"), "select count(*) from raw.order_details") == [(100,)]
    csv_entry = [e for e in ledger.read(demo.lake, DAY2) if e["step"] == "extract_csv"][0]
    assert csv_entry["inputs"] == {"csv": template, "format": "csv", **databases} and csv_entry["status"] == "success"

    # Any other source: no CSV given is one line naming the setting, never the demo's lines.
    query(demo.dsn("source"), "comment on table orders is null")
    refused = cli(lake_env, "extract", "--date", DAY3)
    assert refused.returncode == 11
    assert refused.stderr.strip().splitlines() == [
        "error: step extract_csv failed: ORDER_DETAILS_CSV is not set (make … ORDER_DETAILS_CSV=path, or --csv path), "
        f"and {redact(demo.dsn('source'))} is not the demo source, whose order lines the demo CSV holds"
    ]
    assert not (demo.data_dir / "csv" / "order_details" / DAY3).exists()


def test_second_run_for_the_same_date_is_refused(demo, lake_env):
    with ledger.step_locks(demo.lake, DAY2, ("extract_postgres",)):
        result = cli(lake_env, "extract", "--date", DAY2)
        assert result.returncode == 75
        assert f"extract_postgres for {DAY2} is already being written by pid {os.getpid()}" in result.stderr
        assert not list(demo.data_dir.glob(f"postgres/*/{DAY2}"))
        # The other step-1 task of the day is free to run beside it, as Airflow runs them.
        csv_only = cli(lake_env, "extract", "csv", "--date", DAY2)
        assert csv_only.returncode == 0, csv_only.stderr
        assert _status(demo, DAY2) == {"extract_csv": "success"}
        # A load reads both step-1 tasks' files: it is refused while one of them is being written.
        load = cli(lake_env, "load", "--date", DAY2)
        assert load.returncode == 75
        assert f"extract_postgres for {DAY2} is already being written" in load.stderr


def test_unreachable_source_is_one_line_without_the_password(lake_env, tmp_path):
    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**lake_env, "SOURCE_DSN": f"postgresql://etl:Sup3rS3cret@127.0.0.1:{port}/northwind"}
    result = cli(env, "extract", "--date", DAY1)
    assert result.returncode == 10
    assert result.stderr.strip().splitlines() == [
        f"error: step extract_postgres failed: cannot connect to 127.0.0.1:{port}/northwind: "
        f'connection to server at "127.0.0.1", port {port} failed: Connection refused'
    ]
    settings = load_settings(env)
    ledger_text = "".join(p.read_text() for p in (settings.data_dir / "_ledger").rglob("*.json"))
    assert "Connection refused" in ledger_text
    for text in (result.stdout, result.stderr, ledger_text):
        assert "Sup3rS3cret" not in text


def test_make_load_refuses_a_missing_partition(settings, lake_env, northwind_sql, order_details_csv):
    load_dump(settings.dsn("source"), northwind_sql)
    pipeline.extract(settings, DAY1, csv_path=order_details_csv)
    (settings.data_dir / partition_dir("postgres", "customers", DAY1) / "_manifest.json").unlink()
    result = subprocess.run(
        ["make", "load", f"DATE={DAY1}"], env=lake_env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0
    assert "error: step 2 (load) refused for 2024-01-15: postgres/customers: no manifest" in result.stderr
    assert _status(settings, DAY1)["load"] == "refused"


def test_larger_tables_land_with_the_same_bytes_every_time(scaled_source, lake_env):
    settings = scaled_source
    checksums = []
    for day in (DAY1, DAY2):
        assert cli(lake_env, "extract", "--date", day).returncode == 0
        checksums.append(
            {
                p.parent.parent.name: json.loads(p.read_text())["sha256"]
                for p in settings.data_dir.glob(f"*/*/{day}/_manifest.json")
            }
        )
    assert len(checksums[0]) == 14
    assert checksums[0] == checksums[1]
