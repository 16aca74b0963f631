"""The run ledger: one JSON file per date and step in the lake, and a lock per date and step."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from .interrupt import Interrupted, received
from .storage import Lake, LockedError, check_held, lock_lost, pid_alive
from .timing import Phases

__all__ = [
    "STEPS",
    "LockedError",
    "Refused",
    "Step",
    "days",
    "interrupted",
    "previous_success",
    "read",
    "record",
    "step_locks",
]

STEPS = ("extract_postgres", "extract_csv", "load", "export")
# The steps whose output each step reads, directly or not.
UPSTREAM = {"load": STEPS[:2], "export": STEPS[:3]}


class Refused(RuntimeError):
    """A step that would not start on its input (step 2's gate): recorded as 'refused', not 'failed'."""


def _folder(date: str) -> str:
    return f"_ledger/{date}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")  # orders a day's steps (_behind_upstream)


class Step:
    """A step in progress; set ``rows``, ``bytes`` and ``details`` before it ends, time its ``phases``.

    ``earlier`` is the entry of the step's last run of the same date, which this one replaces (or None).
    """

    def __init__(self, earlier: dict | None = None) -> None:
        self.run = uuid.uuid4().hex[:16]  # this run's id, which the warehouse keeps with what it publishes
        self.rows = 0
        self.bytes = 0
        self.details: dict = {}
        self.phases = Phases()
        self.earlier = earlier


@contextmanager
def record(
    lake: Lake, date: str, step: str, *, read_earlier: bool = False, inputs: dict | None = None
) -> Iterator[Step]:
    """Record ``step`` for ``date``: 'running' at once, then 'success' or 'failed' with the error.

    A step that SIGINT or SIGTERM stopped (``interrupt``) ends 'interrupted', naming the
    signal. A process killed outright mid-step leaves 'running' with its pid, which ``read``
    reports as 'interrupted' once that pid is gone. With ``read_earlier``, the entry this run
    replaces is read first, into ``Step.earlier``. ``inputs`` are the settings the step
    ran with (its CSV, format, target), which a rerun repeats.
    """
    key = f"{_folder(date)}/{step}.json"
    progress = Step(_entry(lake, key) if read_earlier else None)
    entry = {
        "date": date,
        "step": step,
        "status": "running",
        "started_at": _now(),
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "inputs": inputs or {},
        "run": progress.run,
    }
    lake.write_text(key, json.dumps(entry, indent=2) + "\n")
    started = time.monotonic()
    _running[key] = (lake, entry, progress, started)
    try:
        yield progress
        check_held()  # a step whose lock was lost, or that a signal stopped, meanwhile did not succeed
    except BaseException as exc:
        # After a lost lock the entry is no longer ours: the run that took the lock writes its own.
        if lock_lost():
            _running.pop(key, None)
        elif (stopped := received()) is not None:  # whatever error the signal caused on its way
            _interrupted(key, stopped)
        else:
            status = "refused" if isinstance(exc, Refused) else "failed"
            _finish(lake, key, {**entry, "status": status, "error": str(exc) or type(exc).__name__}, progress, started)
        raise
    _finish(lake, key, {**entry, "status": "success"}, progress, started)


# The steps this process runs, by key, as record wrote them: what ``interrupted`` ends.
_running: dict[str, tuple[Lake, dict, Step, float]] = {}


def interrupted(stopped: Interrupted) -> None:
    """Record every step this process still runs as 'interrupted' by ``stopped``.

    For the threads a signal leaves at work (step 1's tasks): nothing stops them from the
    main thread, they end with the process, and their own ``record`` finds its entry written.
    """
    for key in dict(_running):
        _interrupted(key, stopped)


def _interrupted(key: str, stopped: Interrupted) -> None:
    """End the entry at ``key`` as 'interrupted' by ``stopped``, unless it has ended already."""
    held = _running.get(key)
    if held is not None:
        lake, entry, progress, started = held
        if _finish(
            lake, key, {**entry, "status": "interrupted", "error": f"stopped by {stopped.signal}"}, progress, started
        ):
            stopped.steps.append((entry["date"], entry["step"]))


def _finish(lake: Lake, key: str, entry: dict, progress: Step, started: float) -> bool:
    """Write the step's final entry (it ended as ``entry`` says), unless another thread did
    (``interrupted``); whether this call wrote it."""
    if _running.pop(key, None) is None:
        return False
    entry.update(
        finished_at=_now(),
        duration_s=round(time.monotonic() - started, 3),
        rows=progress.rows,
        bytes=progress.bytes,
        details=progress.details,
        phases=progress.phases.seconds(),
    )
    lake.write_text(key, json.dumps(entry, indent=2) + "\n")
    return True


def _entry(lake: Lake, key: str) -> dict | None:
    try:
        return json.loads(lake.read_text(key))
    except FileNotFoundError:
        return None


def days(lake: Lake) -> list[str]:
    """The dates that have entries, sorted."""
    return lake.folders("_ledger")


def previous_success(lake: Lake, date: str, step: str, dates: list[str] | None = None) -> dict | None:
    """The latest entry of ``step`` before ``date`` that succeeded, or None.

    ``dates`` is ``days(lake)`` when the caller has it already: on S3 a listing is a request.
    """
    for earlier in sorted((day for day in (days(lake) if dates is None else dates) if day < date), reverse=True):
        entry = _entry(lake, f"{_folder(earlier)}/{step}.json")
        if entry is not None and entry["status"] == "success":
            return entry
    return None


def read(lake: Lake, date: str | None = None) -> list[dict]:
    """Ledger entries, for one date or all, oldest date first; dead 'running' ones become 'interrupted'."""
    by_date: dict[str, list[str]] = {}
    for key in lake.keys(_folder(date) if date else "_ledger"):
        if key.endswith(".json") and key.count("/") == 2:
            by_date.setdefault(key.split("/")[1], []).append(key)
    entries = []
    for _, keys in sorted(by_date.items()):
        by_step = {}
        for key in keys:
            entry = json.loads(lake.read_text(key))
            if (
                entry["status"] == "running"
                and entry.get("host") == socket.gethostname()
                and not pid_alive(entry["pid"])
            ):
                entry["status"] = "interrupted"
                entry["error"] = f"process {entry['pid']} ended before the step finished"
            by_step[entry["step"]] = entry
        entries.extend(_behind_upstream(by_step).values())
    return entries


def _behind_upstream(by_step: dict[str, dict]) -> dict[str, dict]:
    """Mark the steps of one date that an upstream step ran again after: their record is of older input.

    A step whose upstream then failed is 'upstream_failed' (as a scheduler's grid shows it); one
    whose upstream then ran again, and did not fail, is 'outdated' until it runs again itself.
    """

    def started(entry: dict) -> dt.datetime:
        return dt.datetime.fromisoformat(entry["started_at"])

    for step, upstream in UPSTREAM.items():
        entry = by_step.get(step)
        if entry is None or entry["status"] == "running":
            continue
        later = [by_step[u] for u in upstream if u in by_step and started(by_step[u]) > started(entry)]
        failed = [u["step"] for u in later if u["status"] in ("failed", "refused", "interrupted", "upstream_failed")]
        if later:
            entry["status"] = "upstream_failed" if failed else "outdated"
            entry["error"] = (
                f"{failed[0]} failed after it ran" if failed else f"{later[0]['step']} ran again after it"
            ) + f" (its last {step} ran at {entry['started_at']})"
    return by_step


@contextmanager
def step_locks(lake: Lake, date: str, steps: tuple[str, ...]) -> Iterator[None]:
    """Hold the locks of ``steps`` for ``date``; LockedError says who holds one if it is taken.

    A command locks the steps whose lake files it writes and those it reads, so the two
    step-1 tasks of a day run side by side (as under Airflow), but no extract rewrites a
    day that a load is reading.
    """
    with ExitStack() as held:
        for step in STEPS:  # always in the same order
            if step in steps:
                held.enter_context(lake.lock(f"{_folder(date)}/.{step}.lock", f"{step} for {date}"))
        yield
