"""SIGINT and SIGTERM: the command stops where it is and says so in one line.

The steps it was running are recorded as 'interrupted' (not 'failed': their input was not
at fault), and it exits 128 + the signal's number, as a shell reports a command a signal
ended: 130 for SIGINT (Ctrl-C), 143 for SIGTERM (what Airflow and ``kill`` send).

Python runs a signal's handler on the main thread alone. Raising ``Interrupted`` there
lets ``finally`` blocks release the locks and stops dbt's in-process build. What runs on
other threads (step 1's two tasks, deep in DuckDB or a source query) cannot be stopped
from there: their steps are recorded as interrupted by the main thread
(``ledger.interrupted``), they publish nothing more (``storage.check_held``), and they
end with the process (``__main__``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Interrupted", "handled", "received"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped the command; ``steps`` are the (date, step) pairs whose
    ledger entries it ended as 'interrupted'."""

    def __init__(self, signum: int) -> None:
        self.signal = signal.Signals(signum).name
        self.exit_code = 128 + signum
        self.steps: list[tuple[str, str]] = []
        super().__init__(f"interrupted ({self.signal})")


# The signal that stopped this process, once it came: it stays, since the process is ending.
_received: list[Interrupted] = []


def received() -> Interrupted | None:
    """The signal that stopped this process (its ``Interrupted``), or None."""
    return _received[0] if _received else None


@contextmanager
def handled(lost_lock: Callable[[], bool] = lambda: False) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise ``Interrupted`` in the main thread.

    Only the first signal does: a second one finds the process already stopping, and the
    handlers stay after a signal, so that none cuts its last line short. Whatever error the
    signal caused on its way out (DuckDB turns it into "Query interrupted", a step into its
    failure, dbt into a failed build) leaves the block as that ``Interrupted``.

    ``lost_lock``: when it holds, a SIGINT is ``storage``'s ``_thread.interrupt_main`` after a
    lock was lost, and raises the plain KeyboardInterrupt that stands for.
    """
    if threading.current_thread() is not threading.main_thread():  # signal handlers are the main thread's
        yield
        return
    _received.clear()

    def handler(signum: int, frame) -> None:
        if signum == signal.SIGINT and lost_lock():
            raise KeyboardInterrupt
        if not _received:
            _received.append(Interrupted(signum))
            raise _received[0]

    earlier = {signum: signal.signal(signum, handler) for signum in SIGNALS}
    try:
        yield
    except BaseException as exc:
        stopped = received()
        if stopped is None or exc is stopped:
            raise
        raise stopped from None
    finally:
        if not _received:
            for signum, handling in earlier.items():
                signal.signal(signum, handling)
