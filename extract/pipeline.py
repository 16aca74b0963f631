"""The pipeline's steps for one date, each recorded in the ledger: extract, load, export."""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing, contextmanager
from dataclasses import asdict
from pathlib import Path

import duckdb

from . import demo, duck, gate, interrupt, ledger, server, spark, writer_lock
from .config import Settings, Unreachable, connect, redact, scrub, without_secrets
from .dbt import WarehouseUnreachable, dbt_test_counts, run_dbt, run_settings
from .export import export_evidence
from .flat_files import CSV_TABLE, extract_csv
from .history import history_notes
from .lake import EarlierRuns, clear_leftovers, schema_drift
from .postgres import SOURCE_ALIAS, attach, describe_tables, extract_tables, kept_partitions
from .progress import Progress
from .publication import not_kept
from .source import SourceError, load_dump
from .storage import Lake, LockLost
from .timing import Phases

__all__ = [
    "StepFailed",
    "date_range",
    "demo_csv",
    "ensure_server",
    "export",
    "extract",
    "load",
    "parse_date",
    "seed",
    "writing",
]

EXIT_CODES = {"extract_postgres": 10, "extract_csv": 11, "load": 12, "load_postgres": 12, "export": 13}


class StepFailed(RuntimeError):
    """A pipeline step failed; ``step`` names it and ``exit_code`` is its own."""

    def __init__(self, step: str, message: str, *, refused: bool = False) -> None:
        super().__init__(message if refused else f"step {step} failed: {message}")
        self.step = step
        self.exit_code = EXIT_CODES[step]


def parse_date(text: str) -> str:
    """Validate a run date: YYYY-MM-DD and a real calendar day."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError(f"date {text!r} is not YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(f"date {text!r} is not a calendar day") from None


def date_range(start: str, end: str) -> list[str]:
    """Every day from ``start`` to ``end``, both included."""
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    if last < first:
        raise ValueError(f"the range {start} .. {end} ends before it starts")
    return [(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def ensure_server(settings: Settings) -> None:
    """Start the embedded server and its databases when a role needs it."""
    if settings.embedded_roles:
        server.start(settings)
        server.ensure_databases(settings)


def seed(
    settings: Settings, *, scale: float, dump: Path | None, csv_path: Path, force: bool, into: str | None = None
) -> str:
    """Fill the source database: load ``dump`` if given, else the demo at ``scale`` when empty or ``force``.

    Only the embedded server's demo database is written unasked. A source of the user's
    (SOURCE_DSN, PG*) may be production: it is written only when ``into`` names it, by its
    address as ``redact`` prints it; otherwise it is only read (``make all``), and must have tables.

    Returns:
        What was done, for the log.

    Raises:
        SourceError: one line naming the source, and the command that writes it if that was refused.
    """
    dsn = settings.dsn("source")
    address = redact(dsn)
    if into is not None and into != address:
        raise SourceError(f"SEED_INTO={into} is not the source, {address}")
    written = "source" in settings.embedded_roles or into is not None
    command = f"make seed SEED_INTO={shlex.quote(address)}"
    if dump is not None:
        command += f" NORTHWIND_SQL={shlex.quote(str(dump))}"
    if not written and (dump is not None or force):
        raise SourceError(f"{address} is a source of yours, which a seed writes only when it names it: {command}")
    if dump is not None:
        load_dump(dsn, dump)
        return f"loaded {dump} into {address}"
    with duck.connect() as con:
        try:
            attach(con, dsn, SOURCE_ALIAS, read_only=not written)
        except ConnectionError as exc:
            raise SourceError(str(exc)) from None
        if not force and describe_tables(con):
            return f"source {address} already has tables; not seeded" if written else f"source {address}: only read"
        if not written:
            raise SourceError(
                f"{address} has no tables to extract; a source of yours is only read, never seeded unasked: "
                f"{command} seeds it"
            )
        try:
            rows = demo.generate(con, SOURCE_ALIAS, csv_path, scale)
        except duckdb.Error as exc:
            raise SourceError(scrub(str(exc).splitlines()[0], [dsn])) from None
    total = sum(rows.values())
    return f"seeded demo data at scale {scale:g} into {address}: {total} rows in {len(rows)} tables, CSV {csv_path}"


def _run_databases(settings: Settings) -> dict[str, str]:
    """The servers of the user's that the run reads and writes, without passwords, by ledger input.

    Every step records both, whichever it uses: a rerun from a failed step runs the steps
    after it too, on the same source and warehouse. The embedded server's are left out: a
    rerun finds them without a setting.
    """
    return {f"{role}_dsn": without_secrets(dsn) for role, dsn in settings.dsns.items()}


def _run_step(
    settings: Settings, date: str, step: str, work, *, read_earlier: bool = False, inputs: dict | None = None
) -> ledger.Step:
    """Run ``work(progress)`` as ``step`` of ``date`` in the ledger, turning any error into StepFailed.

    ``read_earlier``: ``progress.earlier`` is the step's entry that this run replaces.
    ``inputs``: the settings the step runs with, for the ledger (``ledger.record``); the run's
    databases are added (``_run_databases``).
    """
    inputs = {**_run_databases(settings), **(inputs or {})}
    try:
        with ledger.record(settings.lake, date, step, read_earlier=read_earlier, inputs=inputs) as progress:
            try:
                work(progress)
            except Exception as exc:
                # Scrubbed before the ledger keeps it: error texts can quote a DSN.
                dsns = [settings.dsn(role) for role in ("source", "warehouse")]
                kind = type(exc) if isinstance(exc, (ledger.Refused, LockLost)) else RuntimeError
                raise kind(scrub(str(exc).strip(), dsns) or type(exc).__name__) from None
        return progress
    except LockLost:
        raise  # not the step's failure: another run took its lock over (exit 75, as any contention)
    except Exception as exc:
        raise StepFailed(step, str(exc).splitlines()[0], refused=isinstance(exc, ledger.Refused)) from exc


@contextmanager
def writing(settings: Settings, what: str, step: str | None = None) -> Iterator[None]:
    """Hold the warehouse's writer lock (``writer_lock``) while the block runs; ``what`` names the holder.

    LockedError, naming the holder, when another run writes the warehouse. A warehouse that
    cannot be reached fails ``step`` in one line (WarehouseUnreachable outside a step).
    """
    dsn = settings.dsn("warehouse")
    try:
        writer_lock.acquire(dsn, what, "cli")
    except Unreachable as exc:
        raise StepFailed(step, str(exc)) if step else WarehouseUnreachable(str(exc)) from None
    try:
        yield
    finally:
        writer_lock.release("cli")


def _record_manifests(
    progress: ledger.Step,
    lake: Lake,
    step: str,
    date: str,
    manifests: list,
    dates: list[str],
    kept: list[dict] | None = None,
) -> None:
    """Keep the manifests in the step's ledger entry, with the schema drift since its last successful day.

    ``dates`` are the ledger's dates, listed before the step began. ``kept`` are partitions of the
    day an earlier run wrote and this one leaves in place (``kept_partitions``): the entry lists
    every partition the day holds, which step 2's gate verifies and the load copies.
    """
    previous = ledger.previous_success(lake, date, step, dates)
    earlier = {p["table"]: p for p in previous["details"]["partitions"]} if previous else {}
    drift = [change for m in manifests for change in schema_drift(earlier.get(m.table), m)]
    partitions = sorted([asdict(m) for m in manifests] + (kept or []), key=lambda p: p["table"])
    progress.rows = sum(p["rows"] for p in partitions)
    progress.bytes = sum(p["bytes"] for p in partitions)
    progress.details = {"partitions": partitions, "drift": drift}
    for change in drift:
        print(f"  schema drift: {change}", flush=True)


def demo_csv(settings: Settings) -> Path:
    """The demo CSV, when the source is the demo that wrote it (``demo.generate`` notes it there).

    For any other source, ValueError naming the setting: the demo's order lines would load
    without a word, as that day's data, lines that belong to no order of that source.
    """
    try:
        with closing(connect(settings.dsn("source"), connect_timeout=10)) as conn, conn.cursor() as cursor:
            cursor.execute(demo.NOTE_QUERY)
            note = cursor.fetchone()[0]
    except Unreachable as exc:
        raise ValueError(str(exc)) from None
    path = demo.csv_of(note)
    if path is None:
        raise ValueError(
            f"ORDER_DETAILS_CSV is not set (make … ORDER_DETAILS_CSV=path, or --csv path), and "
            f"{redact(settings.dsn('source'))} is not the demo source, whose order lines the demo CSV holds"
        )
    return path


def evolve_demo(settings: Settings, date: str) -> None:
    """Set the demo source to its state on ``date`` (``demo.evolve``); ValueError for any other source."""
    demo_csv(settings)  # refuses a source that is not the demo
    with closing(connect(settings.dsn("source"), connect_timeout=10)) as conn, conn, conn.cursor() as cursor:
        demo.evolve(cursor, date)
    print(f"demo source set to its state on {date}", flush=True)


def extract(
    settings: Settings,
    date: str,
    *,
    csv_path: Path | None,
    fmt: str = "parquet",
    quiet: bool = False,
    steps: tuple[str, ...] = ("extract_postgres", "extract_csv"),
) -> None:
    """Step 1: every source table and the CSV into the lake partitions of ``date``.

    ``steps`` chooses the tasks: both by default, one when a scheduler runs them as its own tasks.
    The two step-1 tasks run side by side, each recorded in the ledger on its own. The
    CSV is parsed on one thread: it finishes before the tables do anyway, and a
    parallel parse would hold several buffers of it in memory at once. ``{date}`` in
    ``csv_path`` stands for the run date, for sources that drop one file a day; without
    one, the CSV is the demo's, for the demo source only (``demo_csv``).
    """
    lake = settings.lake
    template = None if csv_path is None else str(csv_path)
    dates = ledger.days(lake)  # for the schema drift of both steps: on S3 a listing is a request
    progress = Progress(live=False if quiet else None, parts=len(steps))  # the tables, the CSV or both

    with ExitStack() as connections:
        con = connections.enter_context(
            duck.connect(threads=settings.duckdb_threads, memory_limit=settings.memory_limit)
        )
        csv_con = connections.enter_context(duck.connect(threads=1, memory_limit=settings.memory_limit))

        def from_postgres(step: ledger.Step) -> None:
            dsn = settings.dsn("source")
            earlier = EarlierRuns.of(step.earlier)
            if earlier.leftovers:
                clear_leftovers(lake, "postgres", date)
            with con.cursor() as cursor:
                attach(cursor, dsn, SOURCE_ALIAS, read_only=True)
                manifests = extract_tables(
                    cursor,
                    lake=lake,
                    date=date,
                    origin=redact(dsn),
                    fmt=fmt,
                    workers=settings.workers,
                    progress=progress,
                    phases=step.phases,
                    earlier=earlier,
                    selection=settings.source_tables,
                )
            kept = kept_partitions(step.earlier, settings.source_tables, fmt)
            _record_manifests(step, lake, "extract_postgres", date, manifests, dates, kept)

        def from_csv(step: ledger.Step) -> None:
            progress.expect(1)
            csv_path = demo_csv(settings) if template is None else Path(template.replace("{date}", date))
            earlier = EarlierRuns.of(step.earlier)
            if earlier.leftovers:
                clear_leftovers(lake, "csv", date)
            with csv_con.cursor() as cursor:
                manifest = extract_csv(
                    cursor,
                    csv_path,
                    name=CSV_TABLE,
                    lake=lake,
                    date=date,
                    fmt=fmt,
                    phases=step.phases,
                    earlier=earlier,
                )
            progress.landed(manifest)
            _record_manifests(step, lake, "extract_csv", date, [manifest], dates)

        tables = settings.source_tables.settings()
        inputs = {
            "extract_postgres": {"format": fmt, **({"tables": tables} if tables else {})},
            "extract_csv": {"csv": template, "format": fmt},
        }
        pool = ThreadPoolExecutor(max_workers=2)
        try:
            tasks = [
                pool.submit(_run_step, settings, date, step, work, read_earlier=True, inputs=inputs[step])
                for step, work in (("extract_postgres", from_postgres), ("extract_csv", from_csv))
                if step in steps
            ]
            pool.shutdown()  # waits for both: a failed task does not cut the other short
        except BaseException:
            stopped = interrupt.received()
            if stopped is None:
                raise
            # A signal, on this thread alone: the tasks may be deep in DuckDB or a source query,
            # which nothing stops from here, and closing their connections would wait for them.
            # Their steps are recorded as interrupted now; they publish nothing more
            # (storage.check_held) and end with the process (__main__), connections and all.
            connections.pop_all()
            ledger.interrupted(stopped)
            progress.close()
            raise
        progress.close()
    for task in tasks:
        task.result()  # the first failure, in step order


def load(settings: Settings, date: str, *, target: str = "lakehouse") -> None:
    """Step 2: ``dbt build`` for ``date``; dbt itself refuses incomplete partitions.

    On the spark target, Spark builds and tests the day first, and the lakehouse build
    that follows publishes its marts (recorded as the day's ``load`` all the same).
    """

    def build(progress: ledger.Step) -> None:
        if target in ("lakehouse", "spark"):
            gate.check(settings.lake, date)  # the ledger's verdict, before dbt starts
        extracted = [e for e in ledger.read(settings.lake, date) if e["step"].startswith("extract_")]
        partitions = [p for e in extracted for p in e.get("details", {}).get("partitions", [])]
        lake_format = "csv" if partitions and all(p["format"] == "csv" for p in partitions) else "parquet"
        run = run_settings(date, lake_format, run=progress.run)
        details = {"target": target}
        if target == "spark":
            # Spark builds and tests the day; its marts land in the lake, and the
            # lakehouse target publishes them in place of its own (spark.py).
            spark.check_packages({**os.environ, "LAKEHOUSE_DATA": settings.lake_url})
            on_spark = Phases()
            run_dbt(settings, "build", "--target", "spark", run=run, phases=on_spark)
            details["spark_tests"] = dbt_test_counts()
            with on_spark("marts into the lake"):
                spark.land_marts(settings, date)
            for name, seconds in on_spark.seconds().items():
                progress.phases.add(f"spark {name}", seconds)
            run = run_settings(date, lake_format, marts_from="spark", run=progress.run)
        # The default target goes unnamed, as in the README's dbt lines: dbt re-parses the
        # whole project when --target changes, so both share one parse.
        named = () if target in ("lakehouse", "spark") else ("--target", target)
        run_dbt(settings, "build", *named, run=run, phases=progress.phases)
        progress.rows = sum(entry["rows"] for entry in extracted)
        progress.details = {**details, "tests": dbt_test_counts()}
        if target != "postgres":
            progress.details["history"] = history_notes(settings.dsn("warehouse"))
        progress.details["not_kept"] = not_kept(settings.dsn("warehouse"), progress.run)

    step = "load" if target in ("lakehouse", "spark") else f"load_{target}"
    with writing(settings, f"lakehouse load {date}", step):
        _run_step(settings, date, step, build, inputs={"target": target})


def export(settings: Settings, date: str) -> tuple[int, list[Path]]:
    """Write the evidence of ``date``: the headline mart read back from the warehouse."""
    result: list = []

    def write(progress: ledger.Step) -> None:
        with duck.connect() as con:
            attach(con, settings.dsn("warehouse"), "warehouse", read_only=True)
            rows, paths = export_evidence(con, date, settings.data_dir / "exports" / date)
        progress.rows = rows
        progress.details = {"paths": [str(p) for p in paths]}
        result.extend([rows, paths])

    _run_step(settings, date, "export", write)
    return result[0], result[1]
