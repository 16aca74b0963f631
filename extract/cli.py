"""Command line: a thin layer that parses arguments, calls the pipeline and maps errors to exit codes."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from dataclasses import replace
from pathlib import Path

from . import interrupt, ledger, ledger_rebuild, pipeline, server
from .config import REPO_ROOT, Settings, load_settings, password_apart, redact
from .cron import crontab_lines
from .dbt import DbtError, run_dbt, run_settings
from .report import DEFAULT_LAKE, print_status, print_summary, rerun_command
from .source import SourceError
from .source_tables import split_patterns
from .storage import LakeError, LockLost, check_held, lock_lost

__all__ = ["main"]

EXIT_USAGE, EXIT_SERVER, EXIT_SEED, EXIT_DBT, EXIT_BACKFILL, EXIT_LAKE, EXIT_LOCKED = 2, 3, 4, 5, 6, 7, 75


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _date(text: str) -> str:
    try:
        return pipeline.parse_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m extract",
        description="The local lakehouse: daily snapshots of a PostgreSQL database and a CSV into a Parquet "
        "lake (step 1), loaded into a PostgreSQL warehouse with dbt (step 2). Dates are YYYY-MM-DD, UTC.",
        epilog="Exit codes: 10 extract_postgres, 11 extract_csv, 12 load, 13 export, 6 backfill with failed days, "
        "2 bad arguments, 3 embedded server, 4 the source (seeding, or a source of yours with no tables), 5 dbt, "
        "7 the lake cannot be reached, 75 another run holds the lock, 130 and 143 interrupted by SIGINT (Ctrl-C) "
        "and SIGTERM.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def with_date(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--date", type=_date, default=_today(), help="run date YYYY-MM-DD (default: today in UTC)")
        return sub

    def with_csv(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--csv",
            type=Path,
            help="order_details CSV; {date} in it stands for the run date (default: the demo CSV, for the demo source)",
        )
        sub.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="lake file format")
        sub.add_argument("--quiet", action="store_true", help="plain one-line-per-table logs, no live progress line")
        sub.add_argument(
            "--schemas",
            type=split_patterns,
            help="source schemas step 1 reads: names or shell patterns, separated by commas "
            "(default: SOURCE_SCHEMAS, else every schema the source role can read)",
        )
        sub.add_argument(
            "--include",
            type=split_patterns,
            help="source tables step 1 takes: patterns on schema.table, e.g. 'sales.*,public.orders' "
            "(default: SOURCE_INCLUDE, else every table)",
        )
        sub.add_argument(
            "--exclude",
            type=split_patterns,
            help="source tables step 1 leaves out: patterns on schema.table (default: SOURCE_EXCLUDE)",
        )

    def with_seed(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--scale", type=float, default=1.0, help="demo scale factor (1 = Northwind's sizes)")
        sub.add_argument("--northwind-sql", type=Path, help="load this SQL dump instead of the demo data")

    def command(name: str, summary: str, example: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=f"Example: python -m extract {example}")

    command("server", "the embedded PostgreSQL: start, stop, status", "server start").add_argument(
        "action", choices=["start", "stop", "status"]
    )

    command(
        "spark-cluster",
        "a Spark master and two workers on 127.0.0.1, from the installed pyspark: start, stop, status",
        "spark-cluster start",
    ).add_argument("action", choices=["start", "stop", "status"])

    sub = command("seed", "fill the source database with demo data or a dump", "seed --scale 10 --force")
    with_seed(sub)
    sub.add_argument("--force", action="store_true", help="regenerate the demo even if the source has tables")
    sub.add_argument(
        "--into",
        metavar="HOST:PORT/DBNAME",
        help="the source to write when SOURCE_DSN or PG* name a server of yours, by its address as this command "
        "prints it (without it, only the embedded server's demo database is written)",
    )

    sub = with_date(command("extract", "step 1: source tables and CSV into the lake", "extract --date 2024-01-15"))
    sub.add_argument(
        "part", nargs="?", choices=["postgres", "csv"], help="only the source tables, or only the CSV (default: both)"
    )
    with_csv(sub)

    sub = with_date(command("load", "step 2: dbt build for the date into the warehouse", "load --date 2024-01-15"))
    sub.add_argument("--target", choices=["lakehouse", "postgres", "spark"], default="lakehouse")

    with_date(command("export", "write the evidence CSV/JSON from the warehouse", "export --date 2024-01-15"))

    sub = with_date(
        command(
            "run",
            "the whole pipeline for a date: the embedded demo source seeded if empty (a source of yours is only read), "
            "extract, load, export",
            "run --date 2024-01-15",
        )
    )
    with_seed(sub)
    with_csv(sub)

    sub = command(
        "backfill",
        "the whole pipeline for every day of a range, each day on its own",
        "backfill --from 2024-01-01 --to 2024-01-31",
    )
    sub.add_argument("--from", dest="start", type=_date, required=True, help="first day, YYYY-MM-DD")
    sub.add_argument("--to", dest="end", type=_date, required=True, help="last day, YYYY-MM-DD (included)")
    sub.add_argument(
        "--evolve",
        action="store_true",
        help="before each day, set the demo source to that day's state (customers move, prices change, …)",
    )
    with_seed(sub)
    with_csv(sub)

    sub = command("status", "the ledger: each step's outcome per date", "status --date 2024-01-15")
    sub.add_argument("--date", type=_date, help="one date in detail")

    command(
        "ledger",
        "rebuild: the step-1 entries the ledger lacks for the days the lake holds, from their partitions' "
        "manifests (never replaces an entry)",
        "ledger rebuild",
    ).add_argument("action", choices=["rebuild"])

    sub = with_date(command("docs", "generate the dbt docs and serve them on 127.0.0.1", "docs --port 8080"))
    sub.add_argument("--port", type=int, default=8080)

    command("cron", "print the crontab lines that run the whole pipeline every day at 02:00 UTC", "cron")

    sub = command("psql", "open psql on the warehouse (or the source)", "psql source")
    sub.add_argument("role", nargs="?", choices=["warehouse", "source"], default="warehouse")
    return parser


def _run(args: argparse.Namespace) -> int:
    settings = _narrowed(load_settings(), args)
    if args.command == "server":
        if args.action == "start":
            started = server.start(settings)
            server.ensure_databases(settings)
            print(
                f"embedded PostgreSQL {'started' if started else 'already running'}: "
                f"127.0.0.1:{settings.pg_port}, socket {settings.socket_dir}"
            )
        elif args.action == "stop":
            print("stopped" if server.stop(settings) else "not running")
        else:
            running = server.is_running(settings)
            print(f"embedded PostgreSQL {'running' if running else 'stopped'} ({settings.pgdata})")
            return 0 if running else 1
        return 0
    if args.command == "spark-cluster":
        return _spark_cluster(args.action)
    if args.command not in ("server", "cron", "psql"):
        settings.lake.check()  # an unreachable bucket stops the command before anything is written
    if args.command == "status":
        print_status(settings, args.date)
        return 0
    if args.command == "ledger":
        return 0 if not ledger_rebuild.rebuild(settings.lake).locked else EXIT_LOCKED
    if args.command == "cron":
        lines, notes = crontab_lines(os.environ)
        print(lines)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        return 0
    pipeline.ensure_server(settings)
    if args.command == "psql":
        dsn, secret = password_apart(settings.dsn(args.role))
        os.execve(server.POSTGRES_BIN / "psql", ["psql", "-d", dsn], {**os.environ, **secret})
    if args.command == "docs":
        with pipeline.writing(settings, "lakehouse docs"):  # a load holds DuckDB's file
            run_dbt(settings, "docs", "generate", run=run_settings(args.date))
        run_dbt(settings, "docs", "serve", "--port", str(args.port), "--no-browser")
        return 0
    csv_path = getattr(args, "csv", None)  # None: the demo's, for the demo source only (pipeline.demo_csv)
    if args.command in ("seed", "run", "backfill"):
        print(
            pipeline.seed(
                settings,
                scale=args.scale,
                dump=args.northwind_sql,
                csv_path=settings.demo_csv,
                force=getattr(args, "force", False),
                into=getattr(args, "into", None),
            ),
            flush=True,
        )
        if args.command == "seed":
            return 0
    if args.command == "backfill":
        return _backfill(settings, args, csv_path)
    _run_day(settings, args, args.date, csv_path)
    return 0


def _spark_cluster(action: str) -> int:
    """``make spark-cluster`` and ``make spark-cluster-stop``: the local cluster in .spark-cluster/."""
    from . import spark_cluster  # needs pyspark, the spark extra

    cluster = spark_cluster.Cluster(REPO_ROOT / ".spark-cluster")
    if action == "start":
        try:
            started = spark_cluster.start(cluster)
        except RuntimeError as exc:
            spark_cluster.stop(cluster)
            print(f"error: {exc}; its logs are in {cluster.folder}", file=sys.stderr)
            return EXIT_SERVER
        print(
            f"Spark master {'started' if started else 'already running'}: {cluster.master} with "
            f"{cluster.workers} workers (web UI http://127.0.0.1:{cluster.ui_port}); "
            f"make load TARGET=spark LAKEHOUSE_SPARK_MASTER={cluster.master} builds on it"
        )
    elif action == "stop":
        print("stopped" if spark_cluster.stop(cluster) else "not running")
    else:
        try:
            print(f"Spark master {cluster.master}: {cluster.state()['aliveworkers']} workers alive")
        except OSError:
            print(f"no Spark master on {cluster.master}")
            return 1
    return 0


def _narrowed(settings: Settings, args: argparse.Namespace) -> Settings:
    """``settings`` with the source tables that ``--schemas``, ``--include`` and ``--exclude`` give."""
    given = {part: getattr(args, part) for part in ("schemas", "include", "exclude") if getattr(args, part, None)}
    return replace(settings, source_tables=replace(settings.source_tables, **given)) if given else settings


def _steps(args: argparse.Namespace) -> tuple[str, ...]:
    """The ledger steps ``args.command`` runs, in order."""
    if args.command == "extract":
        return tuple(f"extract_{part}" for part in ([args.part] if args.part else ["postgres", "csv"]))
    return ledger.STEPS if args.command in ("run", "backfill") else (args.command,)


def _run_day(settings: Settings, args: argparse.Namespace, date: str, csv_path: Path | None) -> None:
    """The steps ``args.command`` names, for one date, in order; the first failure stops them."""
    steps = _steps(args)
    reads = ("extract_postgres", "extract_csv") if "load" in steps else ()  # no extract rewrites what a load reads
    with ledger.step_locks(settings.lake, date, steps + reads):
        extracts = tuple(step for step in steps if step.startswith("extract_"))
        if extracts:
            sources = {
                "extract_postgres": redact(settings.dsn("source")),
                "extract_csv": str(csv_path or "the demo CSV"),
            }
            print(f"step 1 (extract) for {date} from {' and '.join(sources[s] for s in extracts)}", flush=True)
            pipeline.extract(settings, date, csv_path=csv_path, fmt=args.format, quiet=args.quiet, steps=extracts)
        if "load" in steps:
            print(f"step 2 (load) for {date} into {redact(settings.dsn('warehouse'))}", flush=True)
            pipeline.load(settings, date, target=getattr(args, "target", "lakehouse"))
        if "export" in steps:
            pipeline.export(settings, date)
        if steps == ledger.STEPS:
            print_summary(settings, date)


def _backfill(settings: Settings, args: argparse.Namespace, csv_path: Path | None) -> int:
    """Every day from ``args.start`` to ``args.end``, each on its own: a failed day does not stop the others."""
    outcomes = {}
    for date in pipeline.date_range(args.start, args.end):
        try:
            if args.evolve:
                pipeline.evolve_demo(settings, date)
            _run_day(settings, args, date, csv_path)
            outcomes[date] = "ok"
        except Exception as exc:  # a failed day, whatever failed, must not stop the others
            if interrupt.received():
                raise  # a signal stops the backfill where it is: no next day
            print(f"error: {date}: {exc}", file=sys.stderr, flush=True)
            outcomes[date] = f"FAILED: {exc}"
    print(f"\nbackfill {args.start} .. {args.end}")
    for date, outcome in outcomes.items():
        print(f"  {date}  {outcome}")
    return 0 if all(outcome == "ok" for outcome in outcomes.values()) else EXIT_BACKFILL


def _interrupted_line(stopped: interrupt.Interrupted) -> str:
    """What a command a signal stopped says: the signal, the steps it stopped, the command that resumes them."""
    if not stopped.steps:
        return f"{stopped}: no step was running"
    date = stopped.steps[0][0]
    steps = " and ".join(step for step in pipeline.EXIT_CODES if (date, step) in stopped.steps)  # in step order
    line = f"{stopped} during {steps} for {date}"
    try:
        settings = load_settings()
        lake = None if settings.lake_url == DEFAULT_LAKE else settings.lake_url
        command = rerun_command(ledger.read(settings.lake, date), date, lake)
    except Exception:  # the ledger cannot be read now: the line still names what was stopped
        return f"{line}; make status DATE={date} says what to rerun"
    return f"{line}; rerun: {command}" if command else line


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m extract``; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        with interrupt.handled(lost_lock=lock_lost):  # SIGINT and SIGTERM raise Interrupted
            return _run(args)
    except interrupt.Interrupted as exc:
        print(f"error: {_interrupted_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except pipeline.StepFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except DbtError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DBT
    except SourceError as exc:
        print(f"error: source: {exc}", file=sys.stderr)
        return EXIT_SEED
    except LakeError as exc:
        print(f"error: lake: {exc}", file=sys.stderr)
        return EXIT_LAKE
    except (ledger.LockedError, LockLost) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except KeyboardInterrupt:
        try:
            check_held()  # interrupted by a lock lost (storage.S3Lake), not by Ctrl-C
        except LockLost as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_LOCKED
        raise
    except server.ServerError as exc:
        print(f"error: embedded PostgreSQL: {exc}", file=sys.stderr)
        return EXIT_SERVER
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
