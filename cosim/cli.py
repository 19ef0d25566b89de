"""The ``cosim`` command line.

Exit codes: 0 ok, 2 bad input or usage, 1 runtime failure, 130/143 when
interrupted. Errors print one line on stderr (``cosim: error: ...``); pass
``--debug`` for the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from cosim import __version__
from cosim.errors import CosimError

log = logging.getLogger("cosim")

# Subcommand modules, each exposing ``add_parser(subparsers)``. They import
# their heavy dependencies (torch, simpy) inside the handler, so ``cosim
# validate`` stays fast.
COMMAND_MODULES = (
    "cosim.commands",
    "cosim.wireless.cli",
    "cosim.engine.cli",
    "cosim.sim.cli",
    "cosim.study.cli",
    "cosim.channels.cli",
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cosim`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.debug else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except CosimError as exc:
        if debug:
            raise
        print(f"cosim: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cosim: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        print(
            f"cosim: internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
            file=sys.stderr,
        )
        return 1


def entry() -> None:
    """Console-script wrapper: exit with :func:`main`'s code."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
