"""The ``cosim`` command line: the CLI layer, above every library package.

Each subcommand's handler lives in a module of this package
(:data:`COMMAND_MODULES`); no library package imports this one.

Exit codes: 0 ok, 2 bad input or usage, 1 runtime failure, 130/143 when
interrupted, 141 (quietly) when the reader of stdout goes away. Errors print
one line on stderr (``cosim: error: ...``; line breaks in a message are
folded); pass ``--debug`` for the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

from cosim import __version__
from cosim.console import configure_logging, hoist_global_flags, order_and_exemplify
from cosim.errors import CosimError

log = logging.getLogger("cosim")

# Subcommand modules of this package (the CLI layer, above every library
# package), each exposing ``add_parser(subparsers)``. They import their heavy
# dependencies (torch, simpy) inside the handler, so ``cosim validate`` stays fast.
COMMAND_MODULES = (
    "cosim.cli.foundation",
    "cosim.cli.wireless",
    "cosim.cli.engine",
    "cosim.cli.run",
    "cosim.cli.study",
    "cosim.cli.channels",
)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"cosim: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available subcommand."""
    parser = _Parser(
        prog="cosim",
        description="Co-simulator for federated LLM distillation over wireless networks.",
    )
    parser.add_argument("--version", action="version", version=f"cosim {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="let libraries' logs, warnings and progress bars through")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.add_parser(subparsers)
    order_and_exemplify(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cosim`` console script; returns the exit code."""
    # Global flags work before or after the subcommand.
    argv = hoist_global_flags(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(debug=args.debug, quiet=args.quiet, verbose=args.verbose)
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # here, so a full disk or closed pipe is reported like any error
        return code
    except BrokenPipeError:
        return _broken_pipe()
    except CosimError as exc:
        if debug:
            raise
        _error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _error("interrupted", prefix="cosim: ")
        return 130
    except OSError as exc:
        if debug or exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
            return _internal(exc, debug)
        # Writing our own output failed (e.g. stdout redirected to /dev/full).
        _silence_stdout()
        _error(f"cannot write output: {exc.strerror or exc}")
        return 1
    except Exception as exc:
        return _internal(exc, debug)


def _internal(exc: Exception, debug: bool) -> int:
    if debug:
        raise exc
    _error(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
           prefix="cosim: ")
    return 1


def one_line(text: str) -> str:
    """``text`` with every line break and run of whitespace folded into one space."""
    return " ".join(text.split())


def _error(message: str, prefix: str = "cosim: error: ") -> None:
    with contextlib.suppress(OSError):  # stderr itself is gone; the exit code still tells
        print(prefix + one_line(message), file=sys.stderr, flush=True)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _broken_pipe() -> int:
    """The reader went away (``cosim inspect RUN.h5 | head``): stop quietly, as Unix tools do.

    Exit 141 = 128 + SIGPIPE, what a shell reports for a tool killed by the
    signal.
    """
    _silence_stdout()
    return 128 + signal.SIGPIPE


def entry() -> None:
    """Console-script wrapper: exit with :func:`main`'s code."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
