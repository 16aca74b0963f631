"""Seconds per phase of a step, kept in its ledger entry: where the time goes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Phases"]


class Phases:
    """Seconds per named phase, added up over the threads that work on a step.

    With two workers, the phases of a step can add up to more than its wall time.
    """

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        """Time the block as (part of) phase ``name``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - started)

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self._seconds[name] = self._seconds.get(name, 0.0) + seconds

    def seconds(self) -> dict[str, float]:
        """Each phase's seconds, in the order the phases first ended."""
        with self._lock:
            return {name: round(seconds, 3) for name, seconds in self._seconds.items()}
