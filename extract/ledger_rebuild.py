"""The ledger's step-1 entries rebuilt from the partitions' manifests, for a lake whose ledger was lost."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import uuid
from dataclasses import asdict, dataclass, field

from . import ledger
from .lake import MANIFEST, Manifest, PartitionError, schema_drift, verify
from .storage import Lake, LockedError, check_held

__all__ = ["SOURCES", "Rebuilt", "lake_days", "rebuild", "unrecorded"]

# The lake folder each step-1 task writes its partitions in.
SOURCES = {"extract_postgres": "postgres", "extract_csv": "csv"}
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def lake_days(lake: Lake) -> dict[str, dict[str, list[str]]]:
    """The partitions the lake holds with a manifest, by date and step-1 task: their tables, sorted.

    One listing per source folder, nothing read: on S3 a listing is a request per 1,000 keys,
    and these folders hold the partitions alone (data file and manifest).
    """
    held: dict[str, dict[str, list[str]]] = {}
    for step, source in SOURCES.items():
        for key in lake.keys(source):
            parts = key.split("/")  # source/table/date/_manifest.json
            if len(parts) == 4 and parts[3] == MANIFEST and _DAY.fullmatch(parts[2]):
                held.setdefault(parts[2], {}).setdefault(step, []).append(parts[1])
    return dict(sorted(held.items()))


def unrecorded(held: dict[str, dict[str, list[str]]], entries: list[dict]) -> dict[str, list[str]]:
    """The step-1 tasks, by date, whose partitions the lake holds (``lake_days``) and of which
    the ledger's ``entries`` (``ledger.read``) have no entry, whatever its status."""
    recorded = {(entry["date"], entry["step"]) for entry in entries}
    missing = {date: [step for step in steps if (date, step) not in recorded] for date, steps in held.items()}
    return {date: steps for date, steps in missing.items() if steps}


@dataclass
class Rebuilt:
    """What ``rebuild`` did.

    Attributes:
        entries: the entries written, by date: step and status.
        left_out: the partitions that do not match their manifests, each named in one line.
        locked: the dates skipped because a run held a step's lock (it records its own entry).
        held: how many days the lake holds.
    """

    entries: dict[str, dict[str, str]] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)
    locked: list[str] = field(default_factory=list)
    held: int = 0


def rebuild(lake: Lake) -> Rebuilt:
    """Write the step-1 entries the ledger lacks for the days the lake holds, from their manifests.

    For each date and step-1 task whose partitions have manifests and which has no ledger
    entry, under the step's lock (as an extract of that date takes it): an entry as the
    step writes it, its ``details.partitions`` the manifests of the partitions that verify
    (size and SHA-256), its times the manifests' ``extracted_at``, marked ``rebuilt``. A
    partition that does not verify is left out and named; its step is recorded as failed,
    naming it, so the gate refuses the day until step 1 runs again rather than load it
    without that table. An entry already there is never replaced, so a second run writes
    nothing; load and export entries are not invented. Prints one line per date and a total.

    Args:
        lake: the lake's store.

    Returns:
        What was written, left out and skipped.
    """
    held = lake_days(lake)
    missing = unrecorded(held, ledger.read(lake))
    done = Rebuilt(held=len(held))
    dates = set(ledger.days(lake))  # for the schema drift since the step's last success
    for date, steps in missing.items():
        lines, problems = [], []
        try:
            with ledger.step_locks(lake, date, tuple(steps)):
                recorded = {entry["step"] for entry in ledger.read(lake, date)}  # a run may have ended meanwhile
                for step in steps:
                    if step in recorded:
                        continue
                    entry, left_out = _entry(lake, date, step, held[date][step], sorted(dates))
                    check_held()  # nothing is written under a lock this run lost
                    lake.write_text(f"_ledger/{date}/{step}.json", json.dumps(entry, indent=2) + "\n")
                    done.entries.setdefault(date, {})[step] = entry["status"]
                    problems.extend(left_out)
                    found = _count(len(entry["details"]["partitions"]), "partition")
                    lines.append(f"{step} {entry['status']}: {found}, {entry['rows']} rows")
        except LockedError as exc:
            done.locked.append(date)
            print(f"{date}: not rebuilt: {exc}", flush=True)
            continue
        dates.add(date)
        done.left_out.extend(problems)
        if lines:
            print(f"{date}: rebuilt {'; '.join(lines)}", flush=True)
        for problem in problems:
            print(f"  left out: {problem}", flush=True)
    print(_total(lake, done), flush=True)
    return done


def _count(count: int, thing: str) -> str:
    return f"{count} {thing}{'' if count == 1 else 's'}"


def _total(lake: Lake, done: Rebuilt) -> str:
    """The last line: what was written, or that nothing was."""
    written = sum(len(steps) for steps in done.entries.values())
    if written:
        entries = f"{written} {'entry' if written == 1 else 'entries'}"
        line = f"ledger rebuilt: {entries} for {_count(len(done.entries), 'day')} in {lake.url('_ledger')}"
    elif done.locked:
        line = "nothing rebuilt"
    elif done.held:
        line = f"nothing to rebuild: the ledger records step 1 of every day the lake holds ({_count(done.held, 'day')})"
    else:
        line = f"nothing to rebuild: the lake holds no partition with a manifest ({lake.url()})"
    if done.left_out:
        line += f"; {_count(len(done.left_out), 'partition')} left out (its step is recorded as failed: rerun step 1)"
    if done.locked:
        line += f"; {_count(len(done.locked), 'day')} skipped while a run holds it: run this again when it ends"
    return line


def _entry(lake: Lake, date: str, step: str, tables: list[str], dates: list[str]) -> tuple[dict, list[str]]:
    """The entry of ``step`` for ``date`` from the manifests of its ``tables``, and the partitions left out.

    ``dates`` are the ledger's dates, for the schema drift since the step's last success.
    """
    source = SOURCES[step]
    manifests: list[Manifest] = []
    problems = []
    for table in tables:
        try:
            manifest = verify(lake, source, table, date)
        except PartitionError as exc:
            problems.append(str(exc))
            continue
        if (manifest.source, manifest.table, manifest.date) != (source, table, date):
            other = f"{manifest.source}/{manifest.table} for {manifest.date}"
            problems.append(f"{source}/{table} for {date}: its manifest is of {other}")
            continue
        manifests.append(manifest)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    times = sorted(m.extracted_at for m in manifests if m.extracted_at) or [now]
    previous = ledger.previous_success(lake, date, step, dates)
    earlier = {p["table"]: p for p in previous["details"]["partitions"]} if previous else {}
    newest = max(manifests, key=lambda m: m.extracted_at, default=None)
    inputs = {} if newest is None else {"format": newest.format}
    if step == "extract_csv" and newest is not None:
        inputs = {"csv": newest.origin, **inputs}  # the file that step read, which a rerun reads again
    entry = {
        "date": date,
        "step": step,
        "status": "failed" if problems else "success",
        "started_at": times[0],
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "inputs": inputs,
        "run": uuid.uuid4().hex[:16],
        **({"error": "; ".join(problems)} if problems else {}),
        "finished_at": times[-1],
        "rows": sum(m.rows for m in manifests),
        "bytes": sum(m.bytes for m in manifests),
        "details": {
            "partitions": [asdict(m) for m in manifests],
            "drift": [change for m in manifests for change in schema_drift(earlier.get(m.table), m)],
        },
        "phases": {},
        "rebuilt": True,
        "rebuilt_at": now,
    }
    return entry, problems
