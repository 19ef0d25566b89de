"""Foundation subcommands: ``cosim validate`` and ``cosim inspect``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cosim.cli.options import add_set_option
from cosim.errors import CosimError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``validate`` and ``inspect``."""
    validate = subparsers.add_parser(
        "validate", help="check scenario files", description="Validate scenario YAML files."
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="scenario YAML files")
    add_set_option(validate)
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
    fmt = inspect.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true",
                     help="print the summary figures and per-round table as JSON")
    fmt.add_argument("--csv", action="store_true", help="print the per-round table as CSV")
    inspect.set_defaults(handler=run_inspect)


def run_validate(args: argparse.Namespace) -> int:
    """Validate each file; report every failure, one line each.

    With ``--print yaml`` each ``ok:`` line becomes a YAML comment above its
    document; with ``--print json`` stdout holds only JSON (an object, or a
    list for several files), so both parse as they are.
    """
    failures: list[CosimError] = []
    documents: list[Any] = []
    for path in args.files:
        try:
            line, document = _validate_one(path, args)
            if args.print_format == "yaml":
                import yaml

                text = yaml.safe_dump(document, sort_keys=False,
                                      explicit_start=len(args.files) > 1)
                print(f"# {line}\n{text}", end="")
            elif args.print_format != "json":
                print(line)
            documents.append(document)
        except CosimError as exc:
            if args.debug:
                raise
            failures.append(exc)
            print(f"cosim: error: {' '.join(str(exc).split())}", file=sys.stderr)
    if args.print_format == "json" and documents:
        import json

        print(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2))
    return max((exc.exit_code for exc in failures), default=0)


def _validate_one(path: str, args: argparse.Namespace) -> tuple[str, Any]:
    """Validate a scenario or study file; the ``ok: ...`` line and what --print shows.

    The printed config holds only the settings that apply to the chosen method,
    with every ``auto`` resolved (:mod:`cosim.scenario_view`).
    """
    from cosim.scenario import load_scenario
    from cosim.scenario_view import effective_plain, study_plain

    if is_study_file(path):
        line = f"ok: {path} (study: {validate_study(path)} runs)"
        return line, study_plain(path) if args.print_format else None
    loaded = load_scenario(path, args.overrides, trust_remote_code=args.trust_remote_code)
    cfg = loaded.config
    n_clients = len(cfg.expanded_clients())
    line = f"ok: {path} ({cfg.name}: {n_clients} clients, method {cfg.distillation.method})"
    return line, effective_plain(loaded) if args.print_format else None


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

    trace = read_trace(args.trace)
    if args.json or args.csv:
        from cosim.analysis.export import round_table, run_record

        if args.json:
            import json

            print(json.dumps(run_record(trace), indent=2))
        else:
            print(round_table(trace).to_csv(index=False), end="")
        return 0
    print(summarize(trace))
    return 0
