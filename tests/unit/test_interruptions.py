"""SIGINT and SIGTERM: one Interrupted on the main thread, the steps recorded as interrupted
whatever error the signal caused, nothing published after it, and a lost lock's SIGINT as before."""

from __future__ import annotations

import _thread
import json
import signal
import threading
import time

import pytest

from extract import interrupt, ledger, storage
from extract.cli import _interrupted_line
from extract.storage import LocalLake

DAY = "2024-01-15"


@pytest.fixture(autouse=True)
def _signals_as_they_were():
    """A signal leaves its handlers in place (the process is ending): put pytest's back."""
    earlier = {signum: signal.getsignal(signum) for signum in interrupt.SIGNALS}
    yield
    interrupt._received.clear()
    for signum, handler in earlier.items():
        signal.signal(signum, handler)


def _entry(lake: LocalLake, step: str) -> dict:
    return json.loads(lake.read_text(f"_ledger/{DAY}/{step}.json"))


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_raises_interrupted_once_and_any_error_it_causes_leaves_as_it(signum, code):
    with pytest.raises(interrupt.Interrupted) as raised, interrupt.handled():
        try:
            signal.raise_signal(signum)
        except interrupt.Interrupted:
            signal.raise_signal(signum)  # a second one finds the process stopping: nothing more is raised
            raise RuntimeError("Query interrupted") from None  # as DuckDB reports the first one
    name = signal.Signals(signum).name
    assert raised.value is interrupt.received()
    assert (raised.value.exit_code, str(raised.value)) == (code, f"interrupted ({name})")
    with pytest.raises(interrupt.Interrupted):
        storage.check_held()  # nothing is published after it


def test_the_sigint_of_a_lost_lock_stays_a_plain_keyboard_interrupt():
    earlier = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt) as raised, interrupt.handled(lost_lock=lambda: True):
        _thread.interrupt_main()  # what storage does when it loses a lock
        time.sleep(5)
    assert type(raised.value) is KeyboardInterrupt and interrupt.received() is None
    assert signal.getsignal(signal.SIGTERM) is earlier  # no signal came: the handlers are as they were


def test_a_step_the_signal_stopped_is_recorded_interrupted_not_failed(tmp_path):
    lake = LocalLake(tmp_path)
    with pytest.raises(interrupt.Interrupted) as raised, interrupt.handled():
        with ledger.record(lake, DAY, "load"):
            try:
                signal.raise_signal(signal.SIGTERM)
            except interrupt.Interrupted:
                raise RuntimeError("dbt build failed") from None  # the error it caused on its way out
    entry = _entry(lake, "load")
    assert (entry["status"], entry["error"]) == ("interrupted", "stopped by SIGTERM")
    assert raised.value.steps == [(DAY, "load")]


def test_without_a_signal_an_error_is_recorded_failed(tmp_path):
    lake = LocalLake(tmp_path)
    with pytest.raises(RuntimeError), interrupt.handled(), ledger.record(lake, DAY, "export"):
        raise RuntimeError("the warehouse has no marts")
    entry = _entry(lake, "export")
    assert (entry["status"], entry["error"]) == ("failed", "the warehouse has no marts")


def test_the_steps_of_other_threads_are_recorded_interrupted_by_the_main_thread(tmp_path, monkeypatch):
    lake = LocalLake(tmp_path)
    monkeypatch.setenv("LAKEHOUSE_DATA", str(tmp_path))
    with ledger.record(lake, DAY, "extract_csv"):
        pass
    inside, go_on, ended = threading.Event(), threading.Event(), []

    def task() -> None:  # a step 1 task that nothing on the main thread can stop
        try:
            with ledger.record(lake, DAY, "extract_postgres"):
                inside.set()
                go_on.wait()
        except interrupt.Interrupted as exc:
            ended.append(exc)

    worker = threading.Thread(target=task)
    worker.start()
    inside.wait()
    with pytest.raises(interrupt.Interrupted) as raised, interrupt.handled():
        try:
            signal.raise_signal(signal.SIGINT)
        except interrupt.Interrupted as stopped:
            ledger.interrupted(stopped)
            raise
    entry = _entry(lake, "extract_postgres")
    assert (entry["status"], entry["error"]) == ("interrupted", "stopped by SIGINT")
    assert _interrupted_line(raised.value) == (
        f"interrupted (SIGINT) during extract_postgres for {DAY}; "
        f"rerun: LAKEHOUSE_DATA={tmp_path} make extract load export DATE={DAY}"
    )

    go_on.set()  # the task's work ends after the signal: it does not succeed, and its entry stays
    worker.join()
    assert ended == [raised.value]
    assert _entry(lake, "extract_postgres") == entry


def test_a_signal_outside_any_step_says_so():
    assert _interrupted_line(interrupt.Interrupted(signal.SIGTERM)) == "interrupted (SIGTERM): no step was running"
