"""Draw wall time and peak memory against scale factor from the results in bench/results/."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench.run import RESULTS  # noqa: E402


def latest_per_scale() -> list[dict]:
    """The newest result file of each scale factor, by scale (the LAKE=s3 runs have their own files)."""
    newest: dict[float, dict] = {}
    for path in sorted(p for p in RESULTS.glob("*-sf*.json") if not p.name.endswith("-s3.json")):
        summary = json.loads(path.read_text())
        if "methods" in summary:  # not make bench-history's
            newest[summary["sf"]] = summary
    return [newest[sf] for sf in sorted(newest)]


def main() -> None:
    results = latest_per_scale()
    if not results:
        raise SystemExit("no results in bench/results: run make bench first")
    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
    for method in results[-1]["methods"]:
        measured = [r for r in results if method in r["methods"]]  # results older than a method lack it
        scales = [r["sf"] for r in measured]
        time_axis.plot(scales, [r["methods"][method]["wall_s"] for r in measured], marker="o", label=method)
        memory_axis.plot(scales, [r["methods"][method]["peak_rss_mib"] for r in measured], marker="o", label=method)
    for axis, label in ((time_axis, "wall seconds (median)"), (memory_axis, "peak RSS, MiB (median)")):
        axis.set_xscale("log")
        axis.set_xlabel("scale factor (1 = Northwind: 830 orders, ~2,155 lines)")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
    time_axis.set_yscale("log")
    memory_axis.legend(loc="upper left", fontsize=8)
    figure.suptitle("Cost against scale: the work by hand (psql, DuckDB COPY) vs our steps")
    figure.tight_layout()
    path = RESULTS / "scaling.png"
    figure.savefig(path, dpi=110)
    print(f"written: {path}")


if __name__ == "__main__":
    main()
