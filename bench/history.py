"""History's cost as the lake's days accumulate: a day's load must not cost more on day 30 than on day 2.

Usage: python -m bench.history --sf 100 [--days 30]   (``make bench-history SF=100``)

Seeds the demo source at the scale factor, then, for each of ``--days`` consecutive days,
sets the demo source to that day's state (``backfill --evolve``: customers move, prices
change, orders come and go), extracts the day and loads it, as a daily pipeline does. The
seconds each load spent building history (its ledger's ``load_history_tables`` phase) and the
load's wall time go to ``bench/results/<date>-history-sf<SF>.json``, with the ratio of the
last day's history seconds to the second day's, against the goal (at most 1.2).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
from pathlib import Path

from bench.run import RESULTS, goal, measure, prepare
from extract import ledger
from extract.config import load_settings

FIRST = dt.date(2024, 1, 1)
GOAL = 1.2


def run(sf: float, days: int) -> dict:
    """Load ``days`` evolving demo days at ``sf``, one after the other; each load's seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-history-") as folder:
        env, _ = prepare(sf, Path(folder))
        lake = load_settings(env).lake
        loads = []
        for n in range(days):
            date = (FIRST + dt.timedelta(days=n)).isoformat()
            measure([sys.executable, "-m", "extract", "backfill", "--from", date, "--to", date, "--evolve"], env)
            load = next(entry for entry in ledger.read(lake, date) if entry["step"] == "load")
            history = load["phases"]["load_history_tables"]
            loads.append({"date": date, "load_s": load["duration_s"], "history_s": history})
            print(f"{date}  load {load['duration_s']:6.2f} s  history {history:6.2f} s", flush=True)
    return summarize(sf, loads)


def summarize(sf: float, loads: list[dict]) -> dict:
    """The goal's ratio, day N's history seconds against day 2's; and, since one load's seconds vary
    by half a second on a shared machine, the median of the last three days' against that of days
    2 to 4, and the least-squares growth in seconds per day kept."""
    seconds = [load["history_s"] for load in loads]
    days = len(loads)
    later = list(range(1, days))  # day 1 computes history whole
    mean_day, mean_s = statistics.fmean(later), statistics.fmean(seconds[i] for i in later)
    slope = sum((i - mean_day) * (seconds[i] - mean_s) for i in later) / sum((i - mean_day) ** 2 for i in later)
    return {
        "sf": sf,
        "days": days,
        "date": dt.date.today().isoformat(),
        "loads": loads,
        "goals": {f"history_day{days}_vs_day2": goal(seconds[-1] / seconds[1], GOAL)},
        "robust": {
            f"median_days{max(2, days - 2)}_to_{days}_vs_days2_to_{min(4, days)}": round(
                statistics.median(seconds[max(1, days - 3) :]) / statistics.median(seconds[1:4]), 2
            ),
            "growth_s_per_day": round(slope, 4),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sf", type=float, default=100.0, help="scale factor")
    parser.add_argument("--days", type=int, default=30, help="consecutive days to load (at least 3)")
    args = parser.parse_args()
    summary = run(args.sf, max(3, args.days))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{summary['date']}-history-sf{args.sf:g}.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"history on day {summary['days']} against day 2: {summary['goals']}, {summary['robust']}; {path}")


if __name__ == "__main__":
    main()
