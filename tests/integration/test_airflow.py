"""Daily runs under Airflow, through the README's make targets, in a checkout of our own.

The checkout copies the project's files and links the two venvs, so its `.airflow/` (Airflow's
home: SQLite metadata, logs) and its API server's port belong to the test. Airflow's venv is
installed by the Makefile's own rule, as the first `make airflow*` does.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import OWNER, READER, SUPERUSER, assert_whole, browse, demo_only, free_port, query, user_env

from extract import ledger
from extract.config import REPO_ROOT, load_settings
from extract.dbt import OUTPUT_FOLDERS

pytestmark = pytest.mark.airflow

PROJECT = ("Makefile", "pyproject.toml", "profiles.yml", "extract", "plugin", "orchestration", "dbt_project")
DAY = "2024-01-15"
# The README's "Every day" lines, each run below exactly as written.
START, TEST_DAY, BACKFILL, STOP, CRON = (
    "make airflow",
    f"make airflow-test DATE={DAY}",
    "make airflow-backfill FROM=2024-01-01 TO=2024-01-02",
    "make airflow-stop",
    "make cron",
)


def test_the_readme_shows_the_lines_tested_here():
    section = (REPO_ROOT / "README.md").read_text().split("### Every day", 1)[1].split("\n### ", 1)[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert [line.split("  #", 1)[0].strip() for line in block.splitlines()] == [START, TEST_DAY, BACKFILL, STOP, CRON]


@pytest.fixture(scope="module")
def airflow_venv() -> None:
    result = subprocess.run(
        ["make", ".venv-airflow/.installed"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture()
def checkout(airflow_venv, tmp_path) -> Path:
    root = tmp_path / "checkout"
    root.mkdir()
    for name in PROJECT:  # copies keep their times, so make finds both venvs up to date
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("target", "logs", "__pycache__"))
        else:
            shutil.copy2(source, root / name)
    for venv in (".venv", ".venv-airflow"):
        (root / venv).symlink_to(REPO_ROOT / venv)
    return root


def make(root: Path, env: dict[str, str], line: str) -> subprocess.CompletedProcess:
    """A ``make …`` line run in ``root``, as a user types it (its dbt writes the checkout's own target/ and logs/)."""
    env = {key: value for key, value in env.items() if key not in OUTPUT_FOLDERS}
    result = subprocess.run(["bash", "-c", line], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    print(result.stdout[-3000:], result.stderr[-3000:])
    return result


def task_states(root: Path, date: str) -> dict[str, tuple[str, int]]:
    """Airflow's own record of the last run for ``date``: state and try number per task."""
    with sqlite3.connect(root / ".airflow" / "airflow.db") as db:
        rows = db.execute(
            "select ti.task_id, ti.state, ti.try_number from task_instance ti join dag_run r using (dag_id, run_id)"
            " where r.dag_id = 'lakehouse' and date(r.logical_date) = ?"
            " and r.id = (select max(id) from dag_run where dag_id = 'lakehouse' and date(logical_date) = ?)",
            (date, date),
        ).fetchall()
    return {task: (state, tries) for task, state, tries in rows}


def ledger_states(lake: Path, date: str) -> dict[str, str]:
    return {entry["step"]: entry["status"] for entry in ledger.read(lake, date)}


def test_dags_test_runs_a_day_then_the_day_again_without_its_csv(demo, lake_env, checkout, tmp_path):
    env = {**demo_only(lake_env), "AIRFLOW_PORT": str(free_port())}
    result = make(checkout, env, TEST_DAY)
    assert result.returncode == 0
    assert task_states(checkout, DAY) == {step: ("success", 1) for step in ledger.STEPS}
    assert ledger_states(demo.lake, DAY) == {step: "success" for step in ledger.STEPS}
    assert (demo.data_dir / "exports" / DAY / "orders_with_details.csv").exists()
    assert_whole(demo, DAY)

    missing = tmp_path / "drops" / "order_details_{date}.csv"
    result = make(checkout, env, f"{TEST_DAY} ORDER_DETAILS_CSV={missing}")
    assert result.returncode != 0
    grid = {
        "extract_postgres": "success",
        "extract_csv": "failed",
        "load": "upstream_failed",
        "export": "upstream_failed",
    }
    assert task_states(checkout, DAY) == {
        step: (state, 1 if state != "upstream_failed" else 0) for step, state in grid.items()
    }  # exit 11 is not retried
    assert ledger_states(demo.lake, DAY) == grid  # not the first run's load and export
    status = make(checkout, env, f"make status DATE={DAY}")
    assert f"extract_csv: failed: {tmp_path}/drops/order_details_{DAY}.csv: file not found" in status.stdout
    assert "load: upstream_failed: extract_csv failed after it ran" in status.stdout
    assert_whole(demo, DAY)  # the warehouse still publishes the first run, whole


def test_the_cron_line_runs_today_with_the_settings_and_no_password(demo, lake_env, checkout):
    env = {**demo_only(lake_env), "PGPASSWORD": SUPERUSER}
    printed = make(checkout, env, CRON)
    assert printed.returncode == 0
    zone, line = [line for line in printed.stdout.splitlines() if line and not line.startswith("make[")]
    assert zone == "CRON_TZ=UTC" and line.startswith("0 2 * * * ")  # 02:00 UTC, the zone of the run date
    assert SUPERUSER not in line and "PGPASSWORD is left out of the line" in printed.stderr
    log = demo.data_dir / "cron.log"
    assert line.endswith(f"/.venv/bin/python -m extract run >> {log} 2>&1") and f"cd {checkout} && " in line
    # cron runs the line with sh and only HOME, LOGNAME, SHELL and PATH: the rest must be in the line.
    cron_env = {"HOME": os.environ["HOME"], "LOGNAME": "root", "SHELL": "/bin/sh", "PATH": "/usr/bin:/bin"}
    ran = subprocess.run(["sh", "-c", line.removeprefix("0 2 * * * ")], env=cron_env, timeout=600)
    assert ran.returncode == 0
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert f"summary for {today}" in log.read_text()
    assert ledger_states(demo.lake, today) == {step: "success" for step in ledger.STEPS}


def test_a_lock_is_retried_any_other_failure_is_not(checkout):
    probe = (
        "import sys; sys.path.insert(0, 'orchestration/dags'); import lakehouse\n"
        "from airflow.sdk.exceptions import AirflowException\n"
        "policy = lakehouse.RetryWhenLocked()\n"
        "for code in (75, 11, 12, 1):\n"
        "    error = AirflowException(f'Bash command failed. The command returned a non-zero exit code {code}.')\n"
        "    print(code, policy.evaluate(error, 1, 6).action.value)\n"
    )
    result = subprocess.run(
        [".venv-airflow/bin/python", "-c", probe], cwd=checkout, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:4] == ["75 retry", "11 fail", "12 fail", "1 fail"]


def _api(root: Path, port: int, path: str) -> dict:
    headers = {}
    passwords = root / ".airflow" / "simple_auth_manager_passwords.json.generated"
    if passwords.exists():  # else every visitor is an admin
        login = {"username": "admin", "password": json.loads(passwords.read_text())["admin"]}
        token_request = urllib.request.Request(
            f"http://127.0.0.1:{port}/auth/token",
            data=json.dumps(login).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(token_request, timeout=30) as response:
            headers["Authorization"] = f"Bearer {json.load(response)['access_token']}"
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v2/{path}", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _runs(root: Path, port: int, run_type: str) -> dict[str, str]:
    runs = _api(root, port, f"dags/lakehouse/dagRuns?run_type={run_type}")["dag_runs"]
    return {run["logical_date"][:10]: run["state"] for run in runs}


def _wait_for_the_scheduled_run(root: Path, port: int) -> str:
    """Today's run, which switching the DAG on starts; the day it ran for, once it ended."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        runs = _runs(root, port, "scheduled")
        if runs and all(state in ("success", "failed") for state in runs.values()):
            ((day, state),) = runs.items()
            assert state == "success"
            return day
        time.sleep(3)
    raise AssertionError("the scheduled run did not end in 300 s")


def _airflow_files(root: Path) -> list[str]:
    """The text of every file of Airflow's home and of the DAG folder.

    SQLite's write-ahead log goes away when its last connection closes, which a task process
    may do after the services stopped: read again then (its content is in airflow.db by then).
    """
    for _ in range(10):
        paths = [path for path in (root / ".airflow").rglob("*") if path.is_file()]
        paths += list((root / "orchestration").rglob("*.py"))
        assert any(path.name == "airflow.db" for path in paths)
        try:
            return [path.read_bytes().decode("latin-1") for path in paths]
        except FileNotFoundError:
            time.sleep(1)
    raise AssertionError("Airflow's files kept changing after it stopped")


def test_scheduler_runs_today_and_a_two_day_backfill_with_passwords_kept_out(secured, checkout, tmp_path):
    settings, admin, csv_path = secured
    port = free_port()
    env = {
        **demo_only(user_env(tmp_path)),
        "SOURCE_DSN": f"host=127.0.0.1 port={settings.pg_port} dbname=northwind user=reader password={READER}",
        "WAREHOUSE_DSN": f"postgresql://owner:{OWNER}@127.0.0.1:{settings.pg_port}/warehouse",
        "ORDER_DETAILS_CSV": str(csv_path),
        "AIRFLOW_PORT": str(port),
    }
    lake = load_settings(env).lake
    printed = []
    try:
        started = make(checkout, env, START)
        printed.append(started.stdout + started.stderr)
        assert started.returncode == 0
        assert f"Airflow is up: http://127.0.0.1:{port}/dags/lakehouse  (login admin / " in started.stdout
        today = _wait_for_the_scheduled_run(checkout, port)
        assert today == dt.datetime.now(dt.UTC).date().isoformat()
        backfill = make(checkout, env, BACKFILL)
        printed.append(backfill.stdout + backfill.stderr)
        assert backfill.returncode == 0
        assert "  2024-01-01  success\n  2024-01-02  success\n" in backfill.stdout
        assert _runs(checkout, port, "backfill") == {"2024-01-01": "success", "2024-01-02": "success"}
    finally:
        stopped = make(checkout, env, STOP)
    assert stopped.returncode == 0 and "Airflow stopped" in stopped.stdout
    for day in (today, "2024-01-01", "2024-01-02"):
        assert ledger_states(lake, day) == {step: "success" for step in ledger.STEPS}
        assert task_states(checkout, day) == {step: ("success", 1) for step in ledger.STEPS}
    warehouse = admin.replace("dbname=postgres", "dbname=warehouse")
    assert query(warehouse, "select obj_description('marts'::regnamespace)") == [("run_date 2024-01-02",)]
    # The last of three daily loads, each a new day: dbt kept its partial parse.
    last_run = (checkout / "dbt_project" / "logs" / "dbt.log").read_text().rsplit("Running with dbt=", 1)[1]
    assert "Unable to do partial parsing" not in last_run and "Found 17 models" in last_run
    texts = printed + _airflow_files(checkout)
    for secret in (SUPERUSER, READER, OWNER):
        assert not [text[:200] for text in texts if secret in text]


@pytest.mark.browser
def test_the_grid_in_a_browser(demo, lake_env, checkout, tmp_path):
    port = free_port()
    # A browser without a login: every user is an admin, for this test's server only.
    env = {**demo_only(lake_env), "AIRFLOW_PORT": str(port), "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"}
    try:
        assert make(checkout, env, START).returncode == 0
        _wait_for_the_scheduled_run(checkout, port)
        screenshot = REPO_ROOT / "data" / "airflow" / "grid.png"
        dom = browse(f"http://127.0.0.1:{port}/dags/lakehouse", screenshot, tmp_path)
    finally:
        make(checkout, env, STOP)
    for task in ledger.STEPS:
        assert task in dom, task
    assert screenshot.stat().st_size > 10_000
