"""An embedded PostgreSQL for the whole session, in a temporary folder on a free port."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from helpers import OWNER, READER, SUPERUSER, cli, default_port, free_port, names_a_server, query, user_env

from bench.local_s3 import local_s3
from extract import server
from extract.config import Settings, load_settings


@pytest.fixture(scope="session")
def pg_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment that points the pipeline at a fresh embedded server (started here, stopped at the end)."""
    root = tmp_path_factory.mktemp("pg")
    env = {key: value for key, value in os.environ.items() if not names_a_server(key)}
    env.update(
        LAKEHOUSE_PGDATA=str(root / "pgdata"), LAKEHOUSE_PG_PORT=str(free_port()), LAKEHOUSE_DATA=str(root / "data")
    )
    settings = load_settings(env)
    server.start(settings)
    server.ensure_databases(settings)
    yield env
    server.stop(settings)


@pytest.fixture()
def lake_env(pg_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """``pg_env`` with a lake and a source and warehouse database of its own for one test.

    The databases are given as SOURCE_DSN and WAREHOUSE_DSN, as a user points the
    pipeline at a server of their own.
    """
    settings = load_settings(pg_env)
    suffix = uuid.uuid4().hex[:8]
    conn = psycopg2.connect(settings.embedded_dsn("postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        for role in ("source", "warehouse"):
            cur.execute(f"create database {role}_{suffix}")
    conn.close()
    return {
        **pg_env,
        "LAKEHOUSE_DATA": str(tmp_path / "data"),
        "SOURCE_DSN": settings.embedded_dsn(f"source_{suffix}"),
        "WAREHOUSE_DSN": settings.embedded_dsn(f"warehouse_{suffix}"),
    }


@pytest.fixture()
def settings(lake_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of ``lake_env``, also set in os.environ for code that reads it."""
    for key in list(os.environ):
        if names_a_server(key):
            monkeypatch.delenv(key)
    for key, value in lake_env.items():
        monkeypatch.setenv(key, value)
    return load_settings(lake_env)


@pytest.fixture()
def demo(settings: Settings, lake_env: dict[str, str]) -> Settings:
    """``settings`` with a small demo source extracted for 2024-01-15 (nothing loaded yet): no files needed."""
    for args in (("seed", "--scale", "0.2", "--force"), ("extract", "--date", "2024-01-15")):
        result = cli(lake_env, *args)
        assert result.returncode == 0, result.stderr
    return settings


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """A second server that requires passwords (scram), with least-privilege roles.

    `reader` may only SELECT the source tables; `owner` owns the warehouse databases and is
    not a superuser. Yields its settings, the superuser's DSN and the demo CSV; stopped at
    the end of the module.
    """
    root = tmp_path_factory.mktemp("secured")
    port = default_port()
    settings = load_settings(
        {"LAKEHOUSE_PGDATA": str(root / "pgdata"), "LAKEHOUSE_PG_PORT": str(port), "LAKEHOUSE_DATA": str(root)}
    )
    server.start(settings, password=SUPERUSER)
    admin = f"host=127.0.0.1 port={settings.pg_port} user=postgres password={SUPERUSER} dbname=postgres"
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("alter system set log_connections = on")
        cur.execute("select pg_reload_conf()")
        cur.execute(f"create role reader login password '{READER}'")
        cur.execute(f"create role owner login password '{OWNER}'")
        for database, owner in (("northwind", "postgres"), ("wh", "owner"), ("warehouse", "owner")):
            cur.execute(f"create database {database} owner {owner}")
    conn.close()
    source_admin = admin.replace("dbname=postgres", "dbname=northwind")
    seeded = cli(user_env(root, SOURCE_DSN=source_admin, WAREHOUSE_DSN=admin), "seed")
    assert seeded.returncode == 0, seeded.stderr
    query(source_admin, "grant select on all tables in schema public to reader, owner")
    yield settings, admin, load_settings({"LAKEHOUSE_DATA": str(root / "data")}).demo_csv
    server.stop(settings)


@pytest.fixture(scope="module")
def s3(tmp_path_factory) -> Iterator[dict]:
    """A local S3-compatible server that checks signatures, with bucket ``my-bucket``, for one module."""
    with local_s3(tmp_path_factory.mktemp("s3") / "moto.log", "my-bucket") as running:
        yield running
