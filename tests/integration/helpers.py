"""Helpers for integration tests: SQL on a DSN, and the CLI as a user runs it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from extract.config import REPO_ROOT, Settings, without_secrets
from extract.dbt import PROJECT_DIR, dbt_env, invoke, log_dir, target_dir
from extract.lake import MANIFEST
from extract.source import load_dump

# Where dbt writes its artifacts and its log file (a folder per worker under pytest-xdist: tests/conftest.py).
TARGET_DIR = target_dir()
DBT_LOG = log_dir() / "dbt.log"

# The day the shared demo fixtures are extracted and loaded for (conftest.py: demo, loaded).
DAY = "2024-01-15"

# The passwords of the second server's roles (see the ``secured`` fixture): never in anything we leave behind.
SUPERUSER, READER, OWNER = (f"{role}-{uuid.uuid4().hex[:10]}" for role in ("Sup3r", "R3ader", "0wner"))


def names_a_server(key: str) -> bool:
    """Variables that would point a run at another server: the DSNs and every libpq variable."""
    return key in ("SOURCE_DSN", "WAREHOUSE_DSN", "WAREHOUSE_DB") or key.startswith("PG")


def query(dsn: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of ``sql`` on ``dsn``, bytea as ``bytes`` (psycopg2's memoryview compares and prints by address)."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall() if cur.description else []
            return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]
    finally:
        conn.commit()
        conn.close()


def admin(settings: Settings, *statements: str) -> None:
    """Run ``statements`` as the embedded server's superuser, outside any transaction."""
    conn = psycopg2.connect(settings.embedded_dsn("postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def fresh_database(settings: Settings, name: str, template: str | None = None) -> None:
    """Database ``name``, empty or a copy of ``template`` (PostgreSQL copies it file by file)."""
    admin(
        settings,
        f"drop database if exists {name} with (force)",
        f"create database {name}" + (f" template {template}" if template else ""),
    )


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run ``python -m extract <args>`` as a user would, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "extract", *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )


def rerun_databases(env: dict[str, str]) -> str:
    """The end of a rerun line of a run with ``env``: its SOURCE_DSN and WAREHOUSE_DSN, without passwords."""
    return "".join(
        f" {name}={shlex.quote(without_secrets(env[name]))}" for name in ("SOURCE_DSN", "WAREHOUSE_DSN") if name in env
    )


def shell_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` as a user's shell has it: under `make test`, make's own variables would make a make
    started from a test name its folders."""
    return {key: value for key, value in env.items() if key not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}


def make(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run ``make <args>`` in the repository as a user's shell would (``shell_env``), capturing its output."""
    return subprocess.run(
        ["make", *args], env=shell_env(env), cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )


def paste(env: dict[str, str], line: str) -> subprocess.CompletedProcess:
    """Run ``line`` as a user pastes it: bash, in the repository, ``env`` as the shell has it (``shell_env``)."""
    return subprocess.run(
        ["bash", "-c", line], env=shell_env(env), cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )


@dataclass
class DbtRun:
    """What a dbt command did: whether it succeeded, and what it logged (info and above, no time stamps)."""

    success: bool
    output: str


def dbt(settings: Settings, *args: str, cwd: Path = PROJECT_DIR, env: dict[str, str] | None = None) -> DbtRun:
    """``dbt <args>`` as a user types it in ``cwd``, run in this process (dbtRunner), as dbt's own tests run it.

    From dbt_project/ (the default) the profile is one folder up: ``--profiles-dir ..``
    is added unless ``args`` name a folder. ``env`` adds variables to dbt's environment.
    """
    lines: list[str] = []

    def keep(event) -> None:
        if event.info.level != "debug":
            lines.append(event.info.msg)

    if cwd == PROJECT_DIR and "--profiles-dir" not in args:
        args = (*args, "--profiles-dir", "..")
    with contextlib.chdir(cwd):
        result = invoke(list(args), {**dbt_env(settings), **(env or {})}, keep)
    if result.exception is not None:
        lines.append(str(result.exception))
    return DbtRun(result.success, "\n".join(lines))


def run_real_northwind(settings: Settings, env: dict[str, str], dump: Path, csv_path: Path, date: str) -> None:
    """Load the real Northwind dump into the source and run the whole pipeline for ``date``."""
    load_dump(settings.dsn("source"), dump)
    result = cli(env, "run", "--date", date, "--csv", str(csv_path))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def start(
    command: list[str], env: dict[str, str], cwd: Path = REPO_ROOT, stderr: int = subprocess.STDOUT
) -> subprocess.Popen:
    """Start ``command`` in a process group of its own (so it can be killed whole), output captured
    (``stderr=subprocess.PIPE`` keeps stderr apart from stdout)."""
    return subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True
    )


def wait_until(ready, timeout: float = 120, process: subprocess.Popen | None = None, every: float = 0.005) -> None:
    """Return as soon as ``ready()`` is true; fail after ``timeout`` s, or once ``process`` has ended."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process is None or process.poll() is None, "it ended first: " + process.stdout.read()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(every)


def kill_when(process: subprocess.Popen, ready, timeout: float = 120) -> None:
    """SIGKILL the process group of ``process`` as soon as ``ready()`` is true."""
    wait_until(ready, timeout, process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    process.stdout.close()


def free_port() -> int:
    """A TCP port nothing listens on, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str) -> bytes:
    """The body at ``url``."""
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


@contextmanager
def docs_served(env: dict[str, str], date: str) -> Iterator[str]:
    """`make docs` on a free port, as a user starts it; yields the site's URL once its catalog is served."""
    port = free_port()
    server = start(["make", "docs", f"DATE={date}", f"DOCS_PORT={port}"], env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                fetch(url + "/catalog.json")
                break
            except OSError:
                assert server.poll() is None, (
                    "make docs ended before it served the site: " + server.stdout.read()[-3000:]
                )
                assert time.monotonic() < deadline
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()
        server.stdout.close()


def published(settings) -> dict:
    """What readers of the warehouse see: each published schema's note, tables, row counts and a digest of the rows."""
    dsn = settings.dsn("warehouse")
    state = {}
    for schema in ("raw", "marts"):
        tables = [name for (name,) in query(dsn, "select tablename from pg_tables where schemaname = %s", (schema,))]
        note = query(dsn, "select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = %s", (schema,))
        state[schema] = {"note": note[0][0] if note else None, "tables": {}}
        for table in sorted(tables):
            rows = [repr(row) for row in query(dsn, f'select * from {schema}."{table}"')]
            digest = hashlib.sha256(repr(sorted(rows)).encode()).hexdigest()
            state[schema]["tables"][table] = (len(rows), digest)
    return state


def assert_whole(settings, date: str) -> dict:
    """The published schemas hold ``date`` whole: each lake manifest's rows in raw, every line in the marts."""
    state = published(settings)
    assert state["raw"]["note"] == state["marts"]["note"] == f"run_date {date}"
    lake = settings.lake
    manifests = [
        json.loads(lake.read_text(key))
        for key in lake.keys("")
        if key.endswith(f"/{date}/{MANIFEST}") and not key.startswith("spark/")  # Spark's marts: not raw
    ]
    partitions = {manifest["table"]: manifest["rows"] for manifest in manifests}
    assert {table: rows for table, (rows, _) in state["raw"]["tables"].items()} == partitions
    lines = query(settings.dsn("warehouse"), "select count(*), sum(line_count) from marts.orders")[0]
    assert state["marts"]["tables"]["order_lines"][0] == partitions["order_details"] == lines[1]
    assert lines[0] == partitions["orders"]
    return state


def default_port() -> int:
    """libpq's default port when it is free here (so a DSN may leave the port out), else any free one."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", 5432))
            return 5432
        except OSError:
            return free_port()


def user_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    """A user's environment: nothing of the tests' own server, the given variables, a lake of its own."""
    env = {key: value for key, value in os.environ.items() if not names_a_server(key)}
    return {**env, "LAKEHOUSE_DATA": str(tmp_path / "data"), **variables}


def demo_only(env: dict[str, str]) -> dict[str, str]:
    """``env`` without the real dump and CSV that `make test NORTHWIND_SQL=… ORDER_DETAILS_CSV=…` exports.

    The make targets would load that dump into the test's source and extract that CSV.
    """
    return {key: value for key, value in env.items() if key not in ("NORTHWIND_SQL", "ORDER_DETAILS_CSV")}


def browse(url: str, screenshot: Path, tmp_path: Path, height: int = 900) -> str:
    """Open ``url`` in headless Chromium: save a screenshot, return the page's DOM once its scripts ran."""
    chromium = shutil.which("chromium")
    assert chromium, "the browser tests need Debian's chromium (apt-get install chromium; .ci/run does it)"
    browser = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--virtual-time-budget=20000",
    ]
    dom = subprocess.run(browser + ["--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        browser + [f"--window-size=1400,{height}", f"--screenshot={screenshot}", url], capture_output=True, timeout=120
    )
    return dom
