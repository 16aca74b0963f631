"""Progress of step 1: a line per partition, and on a terminal a live total (done/total, rows/s, elapsed)."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from .lake import Manifest

__all__ = ["Progress"]


class Progress:
    """Counts partitions as they land; safe to call from several worker threads.

    Lines wait until every part of the step has said how many partitions it will
    write, so the first line already shows the whole total.

    Args:
        live: keep a status line updated in place (a terminal, not ``--quiet``).
        out: where to write (default stdout).
        parts: how many callers of :meth:`expect` (each once) make up the total.
    """

    def __init__(self, *, live: bool | None = None, out: TextIO | None = None, parts: int = 1) -> None:
        self.out = out or sys.stdout
        self.live = self.out.isatty() if live is None else live
        self.total = 0
        self.done = 0
        self.rows = 0
        self.started = time.monotonic()
        self._parts = parts
        self._held: list[Manifest] = []
        self._lock = threading.Lock()

    def expect(self, partitions: int) -> None:
        """Add one part's partitions to the total to be written."""
        with self._lock:
            self.total += partitions
            self._parts -= 1
            self._release()

    def landed(self, manifest: Manifest) -> None:
        """Report one partition written."""
        with self._lock:
            self._held.append(manifest)
            self._release()

    def close(self) -> None:
        """Write what is still held (a part that failed never gave its count), and end the live line."""
        with self._lock:
            self._parts = 0
            self._release()
            if self.live:
                self.out.write("\n")
                self.out.flush()

    def _release(self) -> None:
        if self._parts > 0:
            return
        for manifest in self._held:
            self._write(manifest)
        self._held.clear()

    def _write(self, manifest: Manifest) -> None:
        self.done += 1
        self.rows += manifest.rows
        elapsed = time.monotonic() - self.started
        clear = "\r\033[K" if self.live else ""
        self.out.write(
            f"{clear}  [{self.done}/{self.total}] {manifest.source}/{manifest.table}: {manifest.rows} rows, "
            f"{manifest.bytes} bytes -> {manifest.file}\n"
        )
        if self.live:
            rate = self.rows / elapsed if elapsed else 0.0
            self.out.write(
                f"  {self.done}/{self.total} partitions, {self.rows} rows, {rate:,.0f} rows/s, {elapsed:.1f} s"
            )
        self.out.flush()
