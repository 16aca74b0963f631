"""The run ledger: one JSON file per date and step in the lake, and a lock per date and step."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

__all__ = ["STEPS", "LockedError", "Step", "read", "record", "step_locks", "warehouse_lock"]

STEPS = ("extract_postgres", "extract_csv", "load", "export")
# The steps whose output each step reads, directly or not.
UPSTREAM = {"load": STEPS[:2], "export": STEPS[:3]}


class LockedError(RuntimeError):
    """Another run holds the lock for this date."""


def _folder(lake: Path, date: str) -> Path:
    return lake / "_ledger" / date


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")  # orders a day's steps (_behind_upstream)


def _write(path: Path, entry: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(entry, indent=2) + "\n")
    os.replace(tmp, path)


class Step:
    """A step in progress; set ``rows``, ``bytes`` and ``details`` before it ends."""

    def __init__(self) -> None:
        self.rows = 0
        self.bytes = 0
        self.details: dict = {}


@contextmanager
def record(lake: Path, date: str, step: str) -> Iterator[Step]:
    """Record ``step`` for ``date``: 'running' at once, then 'success' or 'failed' with the error.

    A process killed mid-step leaves 'running' with its pid, which ``read`` reports
    as 'interrupted' once that pid is gone.
    """
    path = _folder(lake, date) / f"{step}.json"
    entry = {
        "date": date,
        "step": step,
        "status": "running",
        "started_at": _now(),
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }
    _write(path, entry)
    started = time.monotonic()
    progress = Step()
    try:
        yield progress
    except BaseException as exc:
        entry.update(status="failed", error=str(exc) or type(exc).__name__)
        raise
    else:
        entry.update(status="success")
    finally:
        entry.update(
            finished_at=_now(),
            duration_s=round(time.monotonic() - started, 3),
            rows=progress.rows,
            bytes=progress.bytes,
            details=progress.details,
        )
        _write(path, entry)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read(lake: Path, date: str | None = None) -> list[dict]:
    """Ledger entries, for one date or all, oldest date first; dead 'running' ones become 'interrupted'."""
    root = lake / "_ledger"
    folders = [root / date] if date else sorted(p for p in root.glob("*") if p.is_dir())
    entries = []
    for folder in folders:
        by_step = {}
        for path in sorted(folder.glob("*.json")):
            entry = json.loads(path.read_text())
            if entry["status"] == "running" and entry.get("host") == socket.gethostname() and not _alive(entry["pid"]):
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
        failed = [u["step"] for u in later if u["status"] in ("failed", "interrupted", "upstream_failed")]
        if later:
            entry["status"] = "upstream_failed" if failed else "outdated"
            entry["error"] = (
                f"{failed[0]} failed after it ran" if failed else f"{later[0]['step']} ran again after it"
            ) + f" (its last {step} ran at {entry['started_at']})"
    return by_step


@contextmanager
def _hold(path: Path, what: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise LockedError(f"{what} is already being written by {holder}; try again when it ends") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {_now()}")
        handle.flush()
        yield


@contextmanager
def step_locks(lake: Path, date: str, steps: tuple[str, ...]) -> Iterator[None]:
    """Hold the locks of ``steps`` for ``date``; LockedError says who holds one if it is taken.

    A command locks the steps whose lake files it writes and those it reads, so the two
    step-1 tasks of a day run side by side (as under Airflow), but no extract rewrites a
    day that a load is reading.
    """
    with ExitStack() as held:
        for step in STEPS:  # always in the same order
            if step in steps:
                held.enter_context(_hold(_folder(lake, date) / f".{step}.lock", f"{step} for {date}"))
        yield


def warehouse_lock(lake: Path):
    """Hold the warehouse's write lock: one load at a time, whatever its date."""
    return _hold(lake / "_ledger" / ".warehouse.lock", "the warehouse")
