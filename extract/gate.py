"""Step 2's gate as the CLI decides it, before dbt starts: step 1 succeeded for the day.

The dbt hook (macros/lakehouse_gate.sql) decides the same and more (every partition's
file against its manifest, and a partition of every source table the selected models read,
which only dbt's graph knows), and still guards a bare ``dbt build``. Deciding the ledger's
part here first turns the common refusal, a step 1 that did not run or did not finish,
into one line in a fraction of a second instead of dbt's start-up. A refusal is recorded
as such (``ledger.Refused``), by the CLI or by the hook alike.
"""

from __future__ import annotations

from . import ledger
from .storage import Lake

__all__ = ["REFUSED", "check"]

# The start of the hook's refusal, which the CLI recognizes in dbt's error lines.
REFUSED = "step 2 (load) refused for "


def check(lake: Lake, date: str) -> None:
    """Raise ledger.Refused, naming every step 1 task of ``date`` that did not succeed."""
    entries = {entry["step"]: entry for entry in ledger.read(lake, date)}
    problems = []
    for step in ("extract_postgres", "extract_csv"):
        entry = entries.get(step)
        if entry is None:
            problems.append(f"{step} has not run for {date} (run: make extract DATE={date})")
        elif entry["status"] in ("running", "interrupted"):
            problems.append(f"{step} is running or was interrupted (started {entry['started_at']})")
        elif entry["status"] != "success":
            problems.append(f"{step} is {entry['status']}: {(entry.get('error') or '').splitlines()[0]}")
    if problems:
        raise ledger.Refused(REFUSED + date + ": " + "; ".join(problems))
