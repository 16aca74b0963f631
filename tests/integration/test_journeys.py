"""Journeys: dbt and make commands in the orders people run them, the published warehouse checked after every step.

The promise under test: nothing but `dbt build`'s publish writes the published schemas
(`raw`, `marts`). A green, whole build leaves them whole for its run date; anything else
(a failed, partial, killed or read-only command) leaves them exactly as they were.
"""

from __future__ import annotations

import subprocess

import pytest
from helpers import assert_whole, cli, kill_when, published, query, start

from extract.config import REPO_ROOT
from extract.dbt import PROJECT_DIR, dbt_env

DAY1, DAY2 = "2024-01-15", "2024-01-16"
DBT = str(REPO_ROOT / ".venv" / "bin" / "dbt")


def dbt(settings, *args: str, partial_parse: bool = True) -> subprocess.CompletedProcess:
    """A bare dbt command as a user types it from dbt_project/ (`--profiles-dir ..`)."""
    command = [DBT, *args, "--profiles-dir", "..", "--partial-parse" if partial_parse else "--no-partial-parse"]
    return subprocess.run(command, cwd=PROJECT_DIR, env=dbt_env(settings), capture_output=True, text=True, timeout=600)


def test_make_all_then_docs_generate_then_build(demo, lake_env):
    assert cli(lake_env, "load", "--date", DAY1).returncode == 0
    before = assert_whole(demo, DAY1)
    for args in (("docs", "generate"), ("build",)):
        result = dbt(demo, *args, "--vars", f"{{run_date: {DAY1}}}")
        assert result.returncode == 0, result.stdout[-3000:]
        assert assert_whole(demo, DAY1) == before


@pytest.mark.parametrize("partial_parse", [True, False], ids=["partial-parse", "no-partial-parse"])
def test_docs_generate_then_build_on_an_empty_warehouse(demo, partial_parse):
    vars_ = f"{{run_date: {DAY1}}}"
    result = dbt(demo, "docs", "generate", "--vars", vars_, partial_parse=partial_parse)
    assert result.returncode == 0, result.stdout[-3000:]
    assert published(demo) == {"raw": {"note": None, "tables": {}}, "marts": {"note": None, "tables": {}}}
    result = dbt(demo, "build", "--vars", vars_, partial_parse=partial_parse)
    assert result.returncode == 0, result.stdout[-3000:]
    assert_whole(demo, DAY1)


def test_read_only_commands_then_build(demo, lake_env):
    assert cli(lake_env, "load", "--date", DAY1).returncode == 0
    before = assert_whole(demo, DAY1)
    vars_ = f"{{run_date: {DAY1}}}"
    for args in (
        ("compile",),
        ("ls",),
        ("show", "--select", "order_lines"),
        ("test",),
        ("run",),  # builds the twins, but runs no tests: publishes nothing
        ("build", "--empty"),  # no rows: publishes nothing
    ):
        result = dbt(demo, *args, "--vars", vars_)
        assert result.returncode == 0, (args, result.stdout[-3000:])
        assert published(demo) == before, args
    assert "NOT published (dbt run runs no tests" in dbt(demo, "run", "--vars", vars_).stdout
    result = dbt(demo, "build", "--vars", vars_)
    assert result.returncode == 0, result.stdout[-3000:]
    assert assert_whole(demo, DAY1) == before


def test_target_postgres_then_build(demo, lake_env):
    assert cli(lake_env, "load", "--date", DAY1).returncode == 0
    before = assert_whole(demo, DAY1)
    result = dbt(demo, "build", "--target", "postgres", "--vars", f"{{run_date: {DAY1}}}")
    assert result.returncode == 0, result.stdout[-3000:]
    assert published(demo) == before
    warehouse = demo.dsn("warehouse")
    assert query(warehouse, "select * from marts.order_lines except all select * from postgres_marts.order_lines") == []
    assert query(warehouse, "select obj_description('postgres_marts'::regnamespace)") == [(f"run_date {DAY1}",)]
    result = dbt(demo, "build", "--vars", f"{{run_date: {DAY1}}}")
    assert result.returncode == 0, result.stdout[-3000:]
    assert assert_whole(demo, DAY1) == before


def test_select_staging_then_build_a_new_day(demo, lake_env):
    assert cli(lake_env, "load", "--date", DAY1).returncode == 0
    before = assert_whole(demo, DAY1)
    assert cli(lake_env, "extract", "--date", DAY2).returncode == 0
    result = dbt(demo, "build", "--select", "staging", "--vars", f"{{run_date: {DAY2}}}")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "warehouse NOT published" in result.stdout
    assert published(demo) == before
    result = dbt(demo, "build", "--vars", f"{{run_date: {DAY2}}}")
    assert result.returncode == 0, result.stdout[-3000:]
    assert_whole(demo, DAY2)


def test_ls_then_make_load(demo, lake_env):
    assert dbt(demo, "ls", "--vars", f"{{run_date: {DAY1}}}").returncode == 0
    result = subprocess.run(
        ["make", "load", f"DATE={DAY1}"], env=lake_env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert_whole(demo, DAY1)


def test_failed_build_then_retry_then_a_fixed_build(demo, lake_env, tmp_path):
    assert cli(lake_env, "load", "--date", DAY1).returncode == 0
    before = assert_whole(demo, DAY1)
    lines = demo.demo_csv.read_text().splitlines()
    duplicated = tmp_path / "order_details.csv"
    duplicated.write_text("\n".join([*lines, lines[1]]) + "\n")
    assert cli(lake_env, "extract", "--date", DAY2, "--csv", str(duplicated)).returncode == 0
    for args in (("build", "--vars", f"{{run_date: {DAY2}}}"), ("retry",)):
        result = dbt(demo, *args)
        assert result.returncode != 0, args
        assert published(demo) == before, args
    assert cli(lake_env, "extract", "--date", DAY2).returncode == 0
    result = dbt(demo, "build", "--vars", f"{{run_date: {DAY2}}}")
    assert result.returncode == 0, result.stdout[-3000:]
    assert_whole(demo, DAY2)


def test_build_killed_mid_marts_then_build(demo, lake_env):
    assert cli(lake_env, "load", "--date", DAY1).returncode == 0
    before = assert_whole(demo, DAY1)
    assert cli(lake_env, "extract", "--date", DAY2).returncode == 0
    process = start(
        [DBT, "build", "--profiles-dir", "..", "--vars", f"{{run_date: {DAY2}}}"], dbt_env(demo), PROJECT_DIR
    )
    building = "select count(*) from pg_tables where schemaname = 'marts__next'"
    kill_when(process, lambda: query(demo.dsn("warehouse"), building)[0][0] > 0, timeout=300)
    assert published(demo) == before
    result = dbt(demo, "build", "--vars", f"{{run_date: {DAY2}}}")
    assert result.returncode == 0, result.stdout[-3000:]
    assert_whole(demo, DAY2)
