"""The ``faceripper`` command line: options in, one library call, results out.

Results go to stdout; progress, warnings and errors go to stderr. Exit codes: 0 success,
1 some input failed (a video, a strict check), 2 usage or config error.
"""

from __future__ import annotations

# The commands register themselves with the app, in the order of `faceripper --help`.
from faceripper.cli import refs  # noqa: F401

# isort: split
from faceripper.cli import dataset  # noqa: F401

# isort: split
from faceripper.cli import rip  # noqa: F401

# isort: split
from faceripper.cli.common import (
    app,
    interrupted_outside_commands,
    say_interrupted,
    stop_on_signals,
)
from faceripper.cli.v1 import v1_argv

__all__ = ["app", "main", "v1_argv"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    import signal
    import sys

    args = v1_argv(sys.argv[1:] if argv is None else argv)
    stop_on_signals()
    try:
        app(args=args, prog_name="faceripper")
    except KeyboardInterrupt as stop:  # while Typer builds the command, before parsing
        raise SystemExit(say_interrupted(getattr(stop, "signum", signal.SIGINT))) from None
    except SystemExit as done:  # Typer ends an interrupt while parsing with a silent 130
        signum = interrupted_outside_commands(done.code)
        if signum is None:
            raise
        raise SystemExit(say_interrupted(signum)) from None
