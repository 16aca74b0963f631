"""Any real server, named any libpq way, for both roles and every step; never a password in what we leave behind.

A second embedded server, started here, requires passwords (scram) and has least-privilege
roles: `reader` may only SELECT the source tables; `owner` owns its warehouse databases
and is not a superuser.
"""

from __future__ import annotations

import shlex
import shutil
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest
from helpers import (
    DBT_LOG,
    OWNER,
    READER,
    SUPERUSER,
    TARGET_DIR,
    cli,
    docs_served,
    fetch,
    free_port,
    make,
    paste,
    query,
    user_env,
)
from psycopg2.errors import ReadOnlySqlTransaction

APP = "lakehouse-warehouse"


def _walk(env: dict[str, str], date: str, csv_path: Path, docs: bool = False) -> list[str]:
    """Every step for ``date`` as a user runs them (and `make docs` with ``docs``); returns everything they printed.

    dbt's log file is kept at debug level, every statement in it, to be searched for passwords.
    """
    env = {**env, "DBT_LOG_LEVEL_FILE": "debug"}
    printed = []
    for args in (
        ("extract", "--date", date, "--csv", str(csv_path)),
        ("load", "--date", date),
        ("load", "--date", date, "--target", "postgres"),
        ("export", "--date", date),
        ("status", "--date", date),
    ):
        result = cli(env, *args)
        printed.append(result.stdout + result.stderr)
        assert result.returncode == 0, (args, printed[-1][-3000:])
    if docs:
        with docs_served(env, date) as url:
            assert "model.lakehouse.order_lines" in fetch(url + "/catalog.json").decode()
    return printed


def _assert_no_password(printed: list[str], env: dict[str, str]) -> None:
    """No password in what the steps printed, in the lake, the ledger, the exports or dbt's artifacts and logs."""
    files = [p for p in Path(env["LAKEHOUSE_DATA"]).rglob("*") if p.is_file()]
    files += [*TARGET_DIR.glob("*.json"), DBT_LOG]
    texts = printed + [p.read_bytes().decode("latin-1") for p in files if p.exists()]
    for secret in (SUPERUSER, READER, OWNER):
        for text in texts:
            assert secret not in text


def _published_date(admin: str, database: str) -> list[tuple]:
    dsn = admin.replace("dbname=postgres", f"dbname={database}")
    return query(dsn, "select obj_description('marts'::regnamespace), obj_description('postgres_marts'::regnamespace)")


def test_key_value_dsns_over_the_socket_without_a_port(secured, tmp_path):
    settings, admin, csv_path = secured
    port = {} if settings.pg_port == 5432 else {"PGPORT": str(settings.pg_port)}  # else the PG* variable fills it
    env = user_env(
        tmp_path,
        SOURCE_DSN=f"host={settings.socket_dir} dbname=northwind user=reader password={READER}",
        WAREHOUSE_DSN=f"host={settings.socket_dir} dbname=wh user=owner password={OWNER}",
        **port,
    )
    printed = _walk(env, "2024-02-01", csv_path, docs=True)
    assert _published_date(admin, "wh") == [("run_date 2024-02-01", "run_date 2024-02-01")]
    assert (tmp_path / "data" / "exports" / "2024-02-01" / "orders_with_details.csv").exists()
    _assert_no_password(printed, env)


def test_uris_over_tcp_with_options_passed_through(secured, tmp_path):
    settings, admin, csv_path = secured
    host = f"127.0.0.1:{settings.pg_port}"
    log = settings.pgdata / "server.log"
    log_start = log.stat().st_size
    env = user_env(
        tmp_path,
        SOURCE_DSN=f"postgresql://reader:{READER}@{host}/northwind?sslmode=disable&application_name=lakehouse-source",
        WAREHOUSE_DSN=f"postgresql://owner:{OWNER}@{host}/wh?sslmode=disable&connect_timeout=5"
        f"&application_name={APP}&target_session_attrs=read-write&options=-c%20lock_timeout%3D60000",
    )
    printed = _walk(env, "2024-02-02", csv_path)
    assert _published_date(admin, "wh") == [("run_date 2024-02-02", "run_date 2024-02-02")]
    # Every connection to the warehouse, dbt's on both targets included, carried the DSN's options.
    connections = [
        line
        for line in log.read_bytes()[log_start:].decode().splitlines()
        if "connection authorized: user=owner" in line
    ]
    assert len(connections) >= 4
    assert all(f"application_name={APP}" in line for line in connections), connections
    _assert_no_password(printed, env)


def test_pg_variables_with_a_password_file(secured, tmp_path):
    settings, admin, csv_path = secured
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:owner:{OWNER}\n")
    passfile.chmod(0o600)
    env = user_env(tmp_path, PGHOST="127.0.0.1", PGPORT=str(settings.pg_port), PGUSER="owner", PGPASSFILE=str(passfile))
    printed = _walk(env, "2024-02-03", csv_path)  # the databases are northwind and warehouse
    assert _published_date(admin, "warehouse") == [("run_date 2024-02-03", "run_date 2024-02-03")]
    _assert_no_password(printed, env)


def test_service_file_and_password_file(secured, tmp_path):
    settings, admin, csv_path = secured
    services = tmp_path / "pg_service.conf"
    services.write_text(
        f"[lakehouse_source]\nhost={settings.socket_dir}\nport={settings.pg_port}\ndbname=northwind\nuser=reader\n"
        f"[lakehouse_warehouse]\nhost=127.0.0.1\nport={settings.pg_port}\ndbname=wh\nuser=owner\n"
    )
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:reader:{READER}\n*:*:*:owner:{OWNER}\n")
    passfile.chmod(0o600)
    env = user_env(
        tmp_path,
        PGSERVICEFILE=str(services),
        PGPASSFILE=str(passfile),
        SOURCE_DSN="service=lakehouse_source",
        WAREHOUSE_DSN="service=lakehouse_warehouse",
    )
    printed = _walk(env, "2024-02-04", csv_path)
    assert _published_date(admin, "wh") == [("run_date 2024-02-04", "run_date 2024-02-04")]
    _assert_no_password(printed, env)


def test_a_warehouse_down_or_refusing_is_one_line_with_the_step_exit_code(secured, tmp_path):
    settings, _, csv_path = secured
    port = free_port()
    down = user_env(
        tmp_path,
        SOURCE_DSN=f"host={settings.socket_dir} port={settings.pg_port} dbname=northwind user=reader password={READER}",
        WAREHOUSE_DSN=f"postgresql://owner:{OWNER}@127.0.0.1:{port}/wh",
    )
    assert cli(down, "extract", "--date", "2024-02-05", "--csv", str(csv_path)).returncode == 0
    refused = f'connection to server at "127.0.0.1", port {port} failed: Connection refused'
    for args, code, step in (
        (("load",), 12, "step load failed: "),
        (("export",), 13, "step export failed: "),
        (("docs",), 5, ""),
    ):
        result = cli(down, *args, "--date", "2024-02-05")
        assert result.returncode == code, args
        assert result.stderr.strip().splitlines() == [f"error: {step}cannot connect to 127.0.0.1:{port}/wh: {refused}"]
        assert OWNER not in result.stdout + result.stderr
    wrong = {**down, "WAREHOUSE_DSN": f"postgresql://owner:not-{OWNER}@127.0.0.1:{settings.pg_port}/wh"}
    result = cli(wrong, "load", "--date", "2024-02-05")
    assert result.returncode == 12
    assert result.stderr.strip().splitlines() == [
        f"error: step load failed: cannot connect to 127.0.0.1:{settings.pg_port}/wh: connection to server at "
        f'"127.0.0.1", port {settings.pg_port} failed: FATAL:  password authentication failed for user "owner"'
    ]
    assert OWNER not in result.stdout + result.stderr


def test_make_all_only_reads_a_source_of_yours_and_its_rerun_line_repeats_the_run(secured, tmp_path):
    settings, admin, csv_path = secured
    server, day = f"127.0.0.1:{settings.pg_port}", "2024-02-06"
    with closing(psycopg2.connect(admin)) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            # A role that can only read; its password is the warehouse owner's, so one PGPASSWORD serves both.
            cur.execute(f"create role auditor login password '{OWNER}'")
            cur.execute("alter role auditor set default_transaction_read_only = on")
            cur.execute("create database empty_source")
            cur.execute("create database wh_rerun owner owner")
    query(
        admin.replace("dbname=postgres", "dbname=northwind"), "grant select on all tables in schema public to auditor"
    )
    source = f"host=127.0.0.1 port={settings.pg_port} dbname=northwind user=auditor"
    warehouse = f"host=127.0.0.1 port={settings.pg_port} dbname=wh_rerun user=owner"
    env = user_env(tmp_path, SOURCE_DSN=f"{source} password={OWNER}", WAREHOUSE_DSN=warehouse, PGPASSWORD=OWNER)

    # An empty source of yours: one line, nothing seeded, nothing run; make seed writes it only when named.
    empty = {**env, "SOURCE_DSN": source.replace("northwind", "empty_source")}
    result = cli(empty, "run", "--date", day)
    assert (result.returncode, result.stderr.splitlines()) == (
        4,
        [
            f"error: source: {server}/empty_source has no tables to extract; a source of yours is only read, never "
            f"seeded unasked: make seed SEED_INTO={server}/empty_source seeds it"
        ],
    )
    refused = make(empty, "seed")
    assert f"error: source: {server}/empty_source is a source of yours, which a seed writes only" in refused.stderr
    assert refused.returncode != 0 and not (tmp_path / "data" / "_ledger").exists()
    empty_admin = admin.replace("dbname=postgres", "dbname=empty_source")
    assert query(empty_admin, "select count(*) from pg_class where relnamespace = 'public'::regnamespace") == [(0,)]

    # The whole day on the read-only role, its CSV missing; status's rerun line names every input, no password.
    template = f"{tmp_path}/drops/od_{{date}}.csv"
    failed = cli(env, "run", "--date", day, "--csv", template)
    assert failed.returncode == 11, failed.stdout[-3000:] + failed.stderr[-3000:]
    assert f"source {server}/northwind: only read" in failed.stdout
    (line,) = [row.strip() for row in cli(env, "status").stdout.splitlines() if row.strip().startswith("rerun:")]
    assert line == (
        f"rerun: LAKEHOUSE_DATA={tmp_path}/data make extract load export DATE={day} "
        f"ORDER_DETAILS_CSV={shlex.quote(template)} "
        f"SOURCE_DSN='user=auditor dbname=northwind host=127.0.0.1 port={settings.pg_port}' "
        f"WAREHOUSE_DSN='user=owner dbname=wh_rerun host=127.0.0.1 port={settings.pg_port}'"
    )

    # The file arrives; the line, pasted in a shell that has only the password, runs the same day again.
    (tmp_path / "drops").mkdir()
    shutil.copy(csv_path, tmp_path / "drops" / f"od_{day}.csv")
    shell = {key: value for key, value in env.items() if key not in ("LAKEHOUSE_DATA", "SOURCE_DSN", "WAREHOUSE_DSN")}
    rerun = paste(shell, line.removeprefix("rerun: "))
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert f"step 1 (extract) for {day} from {server}/northwind and {template}" in rerun.stdout
    assert f"step 2 (load) for {day} into {server}/wh_rerun" in rerun.stdout
    assert query(f"{warehouse} password={OWNER}", "select obj_description('marts'::regnamespace)") == [
        (f"run_date {day}",)
    ]
    _assert_no_password([result.stdout + result.stderr, failed.stdout + failed.stderr, line, rerun.stdout], env)
    with pytest.raises(ReadOnlySqlTransaction):
        query(f"{source} password={OWNER}", "create temporary table written (n int)")
