"""Lock holders told apart by host, boot, PID namespace, pid and start time, else by the lock's age."""

from __future__ import annotations

import os
import subprocess
import sys

from extract import storage
from extract.storage import STALE_AFTER_S, _holder, _stale


def test_a_live_holder_here_is_never_stale_whatever_the_lock_age():
    assert not _stale(_holder(), STALE_AFTER_S * 10)


def test_a_dead_holder_here_is_stale_at_once():
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    holder = _holder().replace(f"pid {os.getpid()} ", f"pid {gone.stdout.strip()} ", 1)
    assert _stale(holder, 0)


def test_a_pid_now_another_process_is_stale_even_pid_1():
    recorded = _holder().replace(f"pid {os.getpid()} ", "pid 1 ", 1)
    started = recorded.rsplit("started ", 1)[1].rstrip(")")
    assert _stale(recorded.replace(f"started {started})", "started 123456789)"), 0)


def test_another_pid_namespace_boot_or_host_is_judged_by_the_locks_age(monkeypatch):
    for other in ("pid namespace ", "boot ", " on "):
        holder = _holder().replace(other, other + "x", 1)
        assert not _stale(holder, STALE_AFTER_S - 1) and _stale(holder, STALE_AFTER_S + 1), other
    legacy = "pid 7 on elsewhere since 2024-01-15T00:00:00+00:00"
    assert not _stale(legacy, 10) and _stale(legacy, STALE_AFTER_S + 1)
    monkeypatch.setattr(storage, "STALE_AFTER_S", 0)
    assert not _stale(_holder(), 1)  # alive here: its heartbeat may lag, its process does not lie
