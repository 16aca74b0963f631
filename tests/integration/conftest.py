"""An embedded PostgreSQL for the whole session, in a temporary folder on a free port."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from helpers import (
    DAY,
    OWNER,
    READER,
    SUPERUSER,
    cli,
    default_port,
    demo_only,
    free_port,
    fresh_database,
    make,
    names_a_server,
    query,
    user_env,
)

from bench.local_s3 import local_s3
from extract import server
from extract.config import Settings, load_settings, redact


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


@pytest.fixture(scope="session")
def work_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every test's lake is in, at the same path each time."""
    return tmp_path_factory.mktemp("work")


@pytest.fixture()
def lake_env(pg_env: dict[str, str], work_root: Path) -> dict[str, str]:
    """``pg_env`` with an empty lake and empty source and warehouse databases, for one test.

    The databases are given as SOURCE_DSN and WAREHOUSE_DSN, as a user points the
    pipeline at a server of their own. Every test gets the same names and paths, made
    anew: dbt re-parses the whole project when a variable its profile reads changes, so
    one set of names lets one partial parse serve every test.
    """
    settings = load_settings(pg_env)
    for role in ("source", "warehouse"):
        fresh_database(settings, f"test_{role}")
    shutil.rmtree(work_root / "data", ignore_errors=True)
    return {
        **pg_env,
        "LAKEHOUSE_DATA": str(work_root / "data"),
        "SOURCE_DSN": settings.embedded_dsn("test_source"),
        "WAREHOUSE_DSN": settings.embedded_dsn("test_warehouse"),
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


@pytest.fixture(scope="session")
def demo_day(pg_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small demo source extracted for DAY and then loaded, made once by the CLI as a user runs it.

    Kept as database templates (``demo_source``, ``demo_warehouse``) and as copies of the
    lake after each step, which tests copy instead of running the steps again.
    """
    root = tmp_path_factory.mktemp("demo_day")
    settings = load_settings(pg_env)
    for name in ("demo_source", "demo_warehouse"):
        fresh_database(settings, name)
    env = {
        **pg_env,
        "LAKEHOUSE_DATA": str(root / "data"),
        "SOURCE_DSN": settings.embedded_dsn("demo_source"),
        "WAREHOUSE_DSN": settings.embedded_dsn("demo_warehouse"),
    }
    lakes = {"extracted": root / "extracted", "loaded": root / "loaded"}
    for args, lake in (
        (("seed", "--scale", "0.2", "--force", "--into", redact(env["SOURCE_DSN"])), None),
        (("extract", "--date", DAY), lakes["extracted"]),
        (("load", "--date", DAY), lakes["loaded"]),
    ):
        result = cli(env, *args)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        if lake is not None:
            shutil.copytree(root / "data", lake)
    return lakes


def _copy_demo(settings: Settings, demo_day: dict[str, Path], step: str) -> Settings:
    fresh_database(settings, "test_source", "demo_source")
    if step == "loaded":
        fresh_database(settings, "test_warehouse", "demo_warehouse")
    shutil.copytree(demo_day[step], settings.data_dir)
    return settings


@pytest.fixture()
def demo(settings: Settings, demo_day: dict[str, Path]) -> Settings:
    """``settings`` with a small demo source extracted for DAY (nothing loaded yet): no files needed."""
    return _copy_demo(settings, demo_day, "extracted")


@pytest.fixture()
def loaded(settings: Settings, demo_day: dict[str, Path]) -> Settings:
    """``settings`` with the small demo source extracted for DAY and loaded into the warehouse."""
    return _copy_demo(settings, demo_day, "loaded")


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
    # A server of the user's is seeded only by a make seed that names it.
    into = f"127.0.0.1:{settings.pg_port}/northwind"
    env = demo_only(user_env(root, SOURCE_DSN=source_admin, WAREHOUSE_DSN=admin))  # the demo, not the real dump
    seeded = make(env, "seed", f"SEED_INTO={into}")
    assert seeded.returncode == 0, seeded.stderr
    assert f"seeded demo data at scale 1 into {into}: " in seeded.stdout
    query(source_admin, "grant select on all tables in schema public to reader, owner")
    yield settings, admin, load_settings({"LAKEHOUSE_DATA": str(root / "data")}).demo_csv
    server.stop(settings)


@pytest.fixture(scope="module")
def s3(tmp_path_factory) -> Iterator[dict]:
    """A local S3-compatible server that checks signatures, with bucket ``my-bucket``, for one module."""
    with local_s3(tmp_path_factory.mktemp("s3") / "moto.log", "my-bucket") as running:
        yield running
