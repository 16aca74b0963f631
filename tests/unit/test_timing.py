"""Seconds per phase: added up over threads, and dbt's overlapping node spans counted once."""

from __future__ import annotations

import datetime as dt
import threading

from extract.dbt import _covered_seconds
from extract.timing import Phases


def test_phases_add_up_over_threads_in_the_order_they_first_ran():
    phases = Phases()

    def work() -> None:
        for _ in range(1000):
            phases.add("read and encode", 0.001)
        with phases("publish"):
            pass

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = phases.seconds()
    assert list(seconds) == ["read and encode", "publish"]
    assert seconds["read and encode"] == 4.0
    assert 0 <= seconds["publish"] < 1


def test_overlapping_spans_count_once_and_gaps_not_at_all():
    t0 = dt.datetime(2024, 1, 15, tzinfo=dt.UTC)

    def at(seconds: float) -> dt.datetime:
        return t0 + dt.timedelta(seconds=seconds)

    spans = [(at(0), at(2)), (at(1), at(3)), (at(2.5), at(2.8)), (at(5), at(6))]
    assert _covered_seconds(spans) == 4.0
    assert _covered_seconds([]) == 0.0
