"""Journeys: dbt and make commands in the orders people run them, the published warehouse checked after every step.

The promise under test: nothing but `dbt build`'s publish writes the published schemas
(`raw`, `marts`). A green, whole build leaves them whole for its run date; anything else
(a failed, partial, killed or read-only command) leaves them exactly as they were. And
the day every command reads is the one it is given, whatever day the project was parsed on.
"""

from __future__ import annotations

import re
import subprocess

import pytest
from helpers import DAY, DBT_LOG, TARGET_DIR, assert_whole, cli, dbt, kill_when, published, query, start

from extract.config import REPO_ROOT
from extract.dbt import PROJECT_DIR, dbt_env

DAY1, DAY2, DAY3 = DAY, "2024-01-16", "2024-01-17"
DBT = str(REPO_ROOT / ".venv" / "bin" / "dbt")
FULL_PARSE = "Unable to do partial parsing"


def make(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)


def dbt_log_since(offset: int) -> str:
    """What dbt wrote to its own log file after ``offset`` bytes."""
    with open(DBT_LOG, "rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def dbt_log_size() -> int:
    return DBT_LOG.stat().st_size if DBT_LOG.exists() else 0


def test_new_days_keep_the_partial_parse_and_each_command_reads_its_own_day(loaded, lake_env, tmp_path):
    lines = loaded.demo_csv.read_text().splitlines()
    rows = {DAY1: len(lines) - 1}
    for day, keep in ((DAY2, -1), (DAY3, -2)):  # each day its own number of order lines
        drop = tmp_path / f"{day}.csv"
        drop.write_text("\n".join(lines[:keep]) + "\n")
        rows[day] = len(lines) - 1 + keep
        assert cli(lake_env, "extract", "--date", day, "--csv", str(drop)).returncode == 0

    for day in (DAY2, DAY3):  # two new days of `make load`: the second parses nothing again
        offset = dbt_log_size()
        result = make(lake_env, "load", f"DATE={day}")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert_whole(loaded, day)
    assert FULL_PARSE not in dbt_log_since(offset)

    count = "select count(*) as n from {{ source('csv', 'order_details') }}"
    for day in (DAY1, DAY3, DAY2):  # the README's spelling: the day in the environment, read at run time
        env = {"LAKEHOUSE_RUN_DATE": day}
        shown = dbt(loaded, "show", "--inline", count, env=env)
        assert shown.success and re.search(rf"\|\s*{rows[day]}\s*\|", shown.output), shown.output
        assert FULL_PARSE not in shown.output
        compiled = dbt(loaded, "compile", "--select", "stg_csv__order_details", env=env)
        assert compiled.success, compiled.output
        sql = next((TARGET_DIR / "compiled").rglob("stg_csv__order_details.sql")).read_text()
        assert f"/{day}/order_details.parquet" in sql
        assert published(loaded)["raw"]["note"] == f"run_date {DAY3}"  # read-only commands publish nothing

    built = dbt(loaded, "build", env={"LAKEHOUSE_RUN_DATE": DAY1})
    assert built.success and FULL_PARSE not in built.output, built.output
    assert_whole(loaded, DAY1)
    built = dbt(loaded, "build", "--vars", f"{{run_date: {DAY3}}}")  # the spelling users know still works
    assert built.success, built.output
    assert_whole(loaded, DAY3)


def test_make_all_then_docs_generate_then_build(loaded):
    before = assert_whole(loaded, DAY1)
    for args in (("docs", "generate"), ("build",)):
        result = dbt(loaded, *args, "--vars", f"{{run_date: {DAY1}}}")
        assert result.success, result.output[-3000:]
        assert assert_whole(loaded, DAY1) == before


@pytest.mark.parametrize("partial_parse", [True, False], ids=["partial-parse", "no-partial-parse"])
def test_docs_generate_then_build_on_an_empty_warehouse(demo, partial_parse):
    parse = "--partial-parse" if partial_parse else "--no-partial-parse"
    env = {"LAKEHOUSE_RUN_DATE": DAY1}
    result = dbt(demo, "docs", "generate", parse, env=env)
    assert result.success, result.output[-3000:]
    assert published(demo) == {"raw": {"note": None, "tables": {}}, "marts": {"note": None, "tables": {}}}
    result = dbt(demo, "build", parse, env=env)
    assert result.success, result.output[-3000:]
    assert_whole(demo, DAY1)


def test_read_only_commands_then_build(loaded):
    before = assert_whole(loaded, DAY1)
    env = {"LAKEHOUSE_RUN_DATE": DAY1}
    for args in (
        ("compile",),
        ("ls",),
        ("show", "--select", "order_lines"),
        ("test",),
        ("run",),  # builds the twins, but runs no tests: publishes nothing
        ("build", "--empty"),  # no rows: publishes nothing
    ):
        result = dbt(loaded, *args, env=env)
        assert result.success, (args, result.output[-3000:])
        assert published(loaded) == before, args
        if args == ("run",):
            assert "NOT published (dbt run runs no tests" in result.output
    result = dbt(loaded, "build", env=env)
    assert result.success, result.output[-3000:]
    assert assert_whole(loaded, DAY1) == before


def test_target_postgres_then_build(loaded):
    before = assert_whole(loaded, DAY1)
    env = {"LAKEHOUSE_RUN_DATE": DAY1}
    result = dbt(loaded, "build", "--target", "postgres", env=env)
    assert result.success, result.output[-3000:]
    assert published(loaded) == before
    warehouse = loaded.dsn("warehouse")
    assert query(warehouse, "select * from marts.order_lines except all select * from postgres_marts.order_lines") == []
    assert query(warehouse, "select obj_description('postgres_marts'::regnamespace)") == [(f"run_date {DAY1}",)]
    result = dbt(loaded, "build", env=env)
    assert result.success, result.output[-3000:]
    assert assert_whole(loaded, DAY1) == before


def test_select_staging_then_build_a_new_day(loaded, lake_env):
    before = assert_whole(loaded, DAY1)
    assert cli(lake_env, "extract", "--date", DAY2).returncode == 0
    env = {"LAKEHOUSE_RUN_DATE": DAY2}
    result = dbt(loaded, "build", "--select", "staging", env=env)
    assert result.success, result.output[-3000:]
    assert "warehouse NOT published" in result.output
    assert published(loaded) == before
    result = dbt(loaded, "build", env=env)
    assert result.success, result.output[-3000:]
    assert_whole(loaded, DAY2)


def test_ls_then_make_load(demo, lake_env):
    assert dbt(demo, "ls", env={"LAKEHOUSE_RUN_DATE": DAY1}).success
    result = make(lake_env, "load", f"DATE={DAY1}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert_whole(demo, DAY1)


def test_failed_build_then_retry_then_a_fixed_build(loaded, lake_env, tmp_path):
    before = assert_whole(loaded, DAY1)
    lines = loaded.demo_csv.read_text().splitlines()
    duplicated = tmp_path / "order_details.csv"
    duplicated.write_text("\n".join([*lines, lines[1]]) + "\n")
    assert cli(lake_env, "extract", "--date", DAY2, "--csv", str(duplicated)).returncode == 0
    env = {"LAKEHOUSE_RUN_DATE": DAY2}
    for args in (("build",), ("retry",)):
        result = dbt(loaded, *args, env=env)
        assert not result.success, args
        assert published(loaded) == before, args
    assert cli(lake_env, "extract", "--date", DAY2).returncode == 0
    result = dbt(loaded, "build", env=env)
    assert result.success, result.output[-3000:]
    assert_whole(loaded, DAY2)


def test_build_killed_mid_marts_then_build(loaded, lake_env):
    before = assert_whole(loaded, DAY1)
    assert cli(lake_env, "extract", "--date", DAY2).returncode == 0
    env = {**dbt_env(loaded), "LAKEHOUSE_RUN_DATE": DAY2}
    process = start([DBT, "build", "--profiles-dir", ".."], env, PROJECT_DIR)  # a process, to be killed
    building = "select count(*) from pg_tables where schemaname = 'marts__next'"
    kill_when(process, lambda: query(loaded.dsn("warehouse"), building)[0][0] > 0, timeout=300)
    assert published(loaded) == before
    result = dbt(loaded, "build", env={"LAKEHOUSE_RUN_DATE": DAY2})
    assert result.success, result.output[-3000:]
    assert_whole(loaded, DAY2)
