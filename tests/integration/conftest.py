"""An embedded PostgreSQL for the whole session, in a temporary folder on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import psycopg2
import pytest

from extract import server
from extract.config import REPO_ROOT, Settings, load_settings

SECRET_ENV = ("SOURCE_DSN", "WAREHOUSE_DSN", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def pg_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment that points the pipeline at a fresh embedded server (started here, stopped at the end)."""
    root = tmp_path_factory.mktemp("pg")
    env = {key: value for key, value in os.environ.items() if key not in SECRET_ENV}
    env.update(LAKEHOUSE_PGDATA=str(root / "pgdata"), LAKEHOUSE_PG_PORT=str(_free_port()),
               LAKEHOUSE_DATA=str(root / "data"))
    settings = load_settings(env)
    server.start(settings)
    server.ensure_databases(settings)
    yield env
    server.stop(settings)


@pytest.fixture()
def lake_env(pg_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """``pg_env`` with a lake of its own for one test."""
    return {**pg_env, "LAKEHOUSE_DATA": str(tmp_path / "data")}


@pytest.fixture()
def settings(lake_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of ``lake_env``, also set in os.environ for code that reads it."""
    for key in SECRET_ENV:
        monkeypatch.delenv(key, raising=False)
    for key, value in lake_env.items():
        monkeypatch.setenv(key, value)
    return load_settings(lake_env)


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
    return subprocess.run([sys.executable, "-m", "extract", *args], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)
