"""Helpers for integration tests: SQL on a DSN, and the CLI as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import psycopg2

from extract.config import REPO_ROOT


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
