"""``python -m extract``: the pipeline's command line.

Once the command is over, the interpreter would free every object of dbt's import graph
one by one (0.5 s after an in-process dbt build). Nothing needs that: the exit handler
registered first runs last, after every other exit handler (logging's flush, dbt-duckdb's
close) and the joining of threads, and ends the process there with the command's code.
A command that SIGINT or SIGTERM stopped goes there at once, its threads unjoined (``interrupt``).
"""

import atexit
import os
import sys

code = 1  # an exception's traceback is printed, then the process exits 1


def _exit_without_teardown() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


atexit.register(_exit_without_teardown)

from .interrupt import received  # noqa: E402

try:
    from .cli import main  # (after the handler, so that every later one runs before it)

    code = main()
except SystemExit as exc:  # argparse's --help and usage errors
    code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    raise
except KeyboardInterrupt:  # Ctrl-C before the command's own handling of it began (interrupt.handled)
    code = 128 + 2  # as a shell reports a command ended by Ctrl-C (SIGINT)
    print("error: interrupted (SIGINT)", file=sys.stderr)
if received() is not None:
    # The exit handlers now (multiprocessing's among them, which frees dbt's semaphores), ours
    # last: the threads a signal left at work (step 1's tasks) end with the process, unjoined.
    atexit._run_exitfuncs()
sys.exit(code)
