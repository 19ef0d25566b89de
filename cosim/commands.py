"""Foundation subcommands: ``cosim validate`` and ``cosim inspect``."""

from __future__ import annotations

import argparse
import sys

from cosim.errors import CosimError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``validate`` and ``inspect``."""
    validate = subparsers.add_parser(
        "validate", help="check scenario files", description="Validate scenario YAML files."
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="scenario YAML files")
    validate.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a setting by dotted path, e.g. wireless.bandwidth_hz=10e6",
    )
    validate.add_argument(
        "--trust-remote-code", action="store_true",
        help="accept models with trust_remote_code: true (see cosim run --trust-remote-code)",
    )
    validate.add_argument(
        "--print", dest="print_format", choices=("yaml", "json"),
        help="print the resolved config (defaults included)",
    )
    validate.set_defaults(handler=run_validate)

    inspect = subparsers.add_parser(
        "inspect", help="summarise a run trace", description="Print a summary of a run trace."
    )
    inspect.add_argument("trace", metavar="RUN.h5")
    inspect.set_defaults(handler=run_inspect)


def run_validate(args: argparse.Namespace) -> int:
    """Validate each file; report every failure, one line each."""
    failures: list[CosimError] = []
    for path in args.files:
        try:
            print(_validate_one(path, args))
        except CosimError as exc:
            if args.debug:
                raise
            failures.append(exc)
            print(f"cosim: error: {' '.join(str(exc).split())}", file=sys.stderr)
    return max((exc.exit_code for exc in failures), default=0)


def _validate_one(path: str, args: argparse.Namespace) -> str:
    """Validate a scenario or study file; the ``ok: ...`` line (plus resolved config)."""
    from cosim.scenario import load_scenario

    if is_study_file(path):
        return f"ok: {path} (study: {validate_study(path)} runs)"
    loaded = load_scenario(path, args.overrides, trust_remote_code=args.trust_remote_code)
    cfg = loaded.config
    n_clients = len(cfg.expanded_clients())
    line = f"ok: {path} ({cfg.name}: {n_clients} clients, method {cfg.distillation.method})"
    if args.print_format == "yaml":
        line += "\n" + loaded.resolved_yaml()
    elif args.print_format == "json":
        line += "\n" + loaded.resolved_json()
    return line


def is_study_file(path: str) -> bool:
    """A study file is a mapping with a ``base`` scenario (scenarios never have one)."""
    from cosim.config.yaml_source import load_yaml_text, read_text_capped

    try:  # bounded like the scenario loader (size, depth, alias expansion)
        data = load_yaml_text(read_text_capped(path), path).data
    except CosimError:
        return False  # let the scenario loader report it properly
    return isinstance(data, dict) and "base" in data


def validate_study(path: str) -> int:
    """Validate a study and every run it expands to; returns the number of runs."""
    from cosim.study.config import expand_runs, load_study
    from cosim.study.runner import validate_runs

    config, study_dir = load_study(path)
    runs = expand_runs(config, study_dir)
    validate_runs(runs)
    return len(runs)


def run_inspect(args: argparse.Namespace) -> int:
    """Print a human summary of a trace."""
    from cosim.trace.reader import read_trace
    from cosim.trace.summary import summarize

    print(summarize(read_trace(args.trace)))
    return 0
