"""Helpers for integration tests: SQL on a DSN, and the CLI as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg2

from extract.config import REPO_ROOT, Settings
from extract.source import load_dump


def query(dsn: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of ``sql`` on ``dsn``."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.commit()
        conn.close()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run ``python -m extract <args>`` as a user would, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "extract", *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )


def run_real_northwind(settings: Settings, env: dict[str, str], dump: Path, csv_path: Path, date: str) -> None:
    """Load the real Northwind dump into the source and run the whole pipeline for ``date``."""
    load_dump(settings.dsn("source"), dump)
    result = cli(env, "run", "--date", date, "--csv", str(csv_path))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
