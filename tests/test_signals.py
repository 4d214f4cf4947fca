"""A Ctrl-C that arrives while Python runs a finalizer still stops the command.

Python runs an object's ``__del__`` whenever the garbage collector frees it; an
exception raised in it (the signal handler's :class:`Interrupted`) is printed as
"Exception ignored in" and lost, and the command would go on to its end with exit
code 0 (seen in CI: a second Ctrl-C found the run already finished). These tests send
a real SIGINT to a real process while its ``__del__`` runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")

# A command body as the CLI's commands run theirs: in user_errors, with a progress bar.
_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import typer
    from faceripper.cli.common import progress_bar, stop_on_signals, user_errors

    class Finalized:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(1000))  # the handler runs here, inside the finalizer

    stop_on_signals()
    try:
        with user_errors():
            Finalized()  # freed at once: its __del__ runs now
            print("after the finalizer", flush=True)
            if sys.argv[1] == "progress":
                with progress_bar("work") as update:
                    for step in range(50):
                        update(step, 50)
                        print(f"step {step}", flush=True)
            print("finished", flush=True)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    """
)


def _run(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_signal_lost_in_a_finalizer_stops_at_the_next_progress_report() -> None:
    done = _run("progress")
    assert "Exception ignored in" in done.stderr  # the signal did arrive inside __del__
    assert done.returncode == 128 + signal.SIGINT, done.stderr
    assert "interrupted: rerun the same command to continue" in done.stderr
    assert "step 0" not in done.stdout  # stopped at the first report, before any work
    assert "finished" not in done.stdout


def test_a_signal_lost_in_a_finalizer_still_ends_the_command_with_130() -> None:
    done = _run("plain")
    assert "Exception ignored in" in done.stderr
    assert "after the finalizer" in done.stdout  # nothing reported progress after it
    assert done.returncode == 128 + signal.SIGINT, done.stderr
    assert "interrupted: rerun the same command to continue" in done.stderr
