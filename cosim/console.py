"""A quiet console: only the ``cosim`` logger speaks unless ``--verbose``.

Third-party libraries talk a lot on their own: dask/distributed log ~35 INFO
lines per study, transformers draws weight-loading bars and warns about
``attention_mask``, peft warns about configs. By default their loggers are
set to ERROR, their Python warnings are ignored, and Hugging Face progress
bars are off; ``--verbose`` lets them all through, ``--debug`` too (plus
cosim's DEBUG logs and tracebacks).

Global flags (``--debug``, ``-q/--quiet``, ``-v/--verbose``) may come before
or after the subcommand: :func:`hoist_global_flags` moves them in front.

Worker processes (``cosim study``'s spawned pool, dask workers) inherit the
environment variables but start with Python's default warning filters and
logger levels: :func:`console_state` snapshots the parent's and
:func:`apply_console_state` installs them in a worker before it runs anything.
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import re
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

GLOBAL_FLAGS = ("--debug", "-q", "--quiet", "-v", "--verbose")
#: Loggers of libraries cosim drives; ERROR unless --verbose.
NOISY_LOGGERS = ("distributed", "dask", "tornado", "asyncio", "transformers", "peft",
                 "huggingface_hub", "accelerate", "urllib3", "filelock", "matplotlib",
                 "PIL", "h5py", "torch")
NOISY_WARNING_MODULES = ("transformers", "peft", "torch", "accelerate", "huggingface_hub",
                         "distributed", "dask", "matplotlib")


def hoist_global_flags(argv: Sequence[str]) -> list[str]:
    """``argv`` with every global flag moved before the subcommand (stops at ``--``)."""
    argv = list(argv)
    end = argv.index("--") if "--" in argv else len(argv)
    flags = [a for a in argv[:end] if a in GLOBAL_FLAGS]
    rest = [a for a in argv[:end] if a not in GLOBAL_FLAGS]
    return flags + rest + argv[end:]


def configure_logging(*, debug: bool = False, quiet: bool = False,
                      verbose: bool = False) -> None:
    """Console logging for the CLI (see the module docstring)."""
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    loud = verbose or debug
    root.setLevel(level if loud else logging.WARNING)
    logging.getLogger("cosim").setLevel(level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if loud else logging.ERROR)
    if loud:
        return
    # Read when these libraries load (after this runs: the handlers import them lazily).
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    os.environ.setdefault("DASK_DISTRIBUTED__LOGGING__DISTRIBUTED", "error")
    for module in NOISY_WARNING_MODULES:
        warnings.filterwarnings("ignore", module=rf"{module}(\..*)?")


@dataclass(frozen=True)
class ConsoleState:
    """Picklable snapshot of this process's warning filters and logger levels.

    ``filters`` holds :data:`warnings.filters` entries as ``(action, message
    pattern, category, module pattern, lineno)``, first match first; entries
    whose category cannot be pickled (a class local to a function) are left out.
    ``levels`` holds ``(logger name, level)`` for ``cosim`` and :data:`NOISY_LOGGERS`.
    """

    filters: tuple[tuple[str, str, type[Warning], str, int], ...]
    levels: tuple[tuple[str, int], ...]


def console_state() -> ConsoleState:
    """The current process's warning filters and logger levels (see :class:`ConsoleState`)."""
    filters = []
    for action, message, category, module, lineno in warnings.filters:
        entry = (action, _pattern(message), category, _pattern(module), lineno)
        try:
            pickle.dumps(entry)
        except (pickle.PicklingError, AttributeError, TypeError):
            continue
        filters.append(entry)
    names = ("cosim", *NOISY_LOGGERS)
    return ConsoleState(tuple(filters),
                        tuple((n, logging.getLogger(n).level) for n in names))


def _pattern(regex: Any) -> str:
    """A filter's message/module matcher as a pattern for :func:`warnings.filterwarnings`.

    Filters hold a compiled regex, ``None`` (any) or, for the interpreter's
    defaults, a plain string that must equal the module name exactly.
    """
    if isinstance(regex, re.Pattern):
        return regex.pattern
    return re.escape(regex) + r"\Z" if regex else ""


def apply_console_state(state: ConsoleState) -> None:
    """Make this process's warning filters and logger levels those of ``state``.

    Idempotent; called at the start of every study worker process and run.
    """
    warnings.resetwarnings()
    # filterwarnings inserts at the front: install the last-matching filter first.
    for action, message, category, module, lineno in reversed(state.filters):
        warnings.filterwarnings(action, message=message, category=category,
                                module=module, lineno=lineno)
    for name, level in state.levels:
        logging.getLogger(name).setLevel(level)


#: Subcommands in the order of a study's workflow, each with one example.
WORKFLOW: dict[str, str] = {
    "validate": "cosim validate scenarios/quickstart.yaml --print yaml",
    "run": "cosim run scenarios/quickstart.yaml --out runs/q.h5",
    "inspect": "cosim inspect runs/q.h5 --json",
    "plot": "cosim plot runs/q.h5",
    "study": "cosim study scenarios/methods_study.yaml --dry-run",
    "engine": "cosim engine scenarios/quickstart.yaml --out runs/engine.h5",
    "wireless": "cosim wireless scenarios/urban_mobility.yaml --out runs/w.h5",
    "trace": "cosim trace info channels/ped_umi_3p5ghz.csv",
}


def order_and_exemplify(subparsers: argparse._SubParsersAction) -> None:
    """List subcommands in :data:`WORKFLOW` order and end each help page with its example."""
    rank = {name: i for i, name in enumerate(WORKFLOW)}
    subparsers._choices_actions.sort(key=lambda a: rank.get(a.dest, len(rank)))
    for name, parser in subparsers.choices.items():
        if name in WORKFLOW and not parser.epilog:
            parser.epilog = f"example: {WORKFLOW[name]}"
