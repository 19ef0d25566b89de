"""``cosim engine SCENARIO.yaml [--out run.h5] [--set k=v] [--rounds R]``.

Runs the distillation engine alone (no network model: everyone delivers
everything), prints one line per round (bytes, mean k, mean own/union
perplexity and accuracy) and writes the HDF5 trace.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cosim.cli.options import add_set_option


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``engine``."""
    parser = subparsers.add_parser(
        "engine",
        help="run the distillation engine alone (no network model)",
        description="Run a scenario's clients, data and method for R rounds with every "
        "payload delivered in full; print per-round metrics and bytes; write the trace.",
    )
    parser.add_argument("scenario", metavar="SCENARIO.yaml", help="scenario file")
    add_set_option(parser)
    parser.add_argument("--out", metavar="RUN.h5",
                        help="trace path (default: output.trace_path with an -engine suffix)")
    parser.add_argument("--rounds", type=int, metavar="R",
                        help="rounds to run (default: distillation.rounds)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="allow models with trust_remote_code: true to run their code")
    parser.set_defaults(handler=engine_command)


def engine_command(args: argparse.Namespace) -> int:
    """Load the scenario, run it standalone, print the rounds and a final summary."""
    from cosim.errors import UsageError
    from cosim.scenario import load_scenario
    from cosim.sim.engine_only import format_round, write_trace_run
    from cosim.trace.writer import check_writable

    overrides = list(args.overrides)
    if args.rounds is not None:
        if args.rounds < 1:
            raise UsageError(f"--rounds: must be >= 1, got {args.rounds}")
        overrides.append(f"distillation.rounds={args.rounds}")
    loaded = load_scenario(args.scenario, overrides, trust_remote_code=args.trust_remote_code)
    scenario = loaded.config
    if args.out:
        out = Path(args.out)
    else:
        default = scenario.trace_path()
        out = default.with_name(f"{default.stem}-engine{default.suffix}")
    check_writable(out)
    clients = scenario.engine_clients()
    names = [c.name for c in clients]
    print(f"{scenario.name}: method {scenario.distillation.method}, {len(clients)} clients, "
          f"{scenario.distillation.rounds} rounds (no network)")
    result = write_trace_run(
        clients, scenario.data, scenario.distillation, scenario.seed, out,
        scenario_yaml=loaded.text, resolved_config=loaded.resolved_plain(),
        scenario_path=str(loaded.path or ""), overrides=loaded.overrides,
        on_round=lambda summary: print(format_round(summary, names), flush=True),
    )
    last = result.rounds[-1]
    print(
        f"total uplink {result.uplink_bytes:,d} B, downlink {result.downlink_bytes:,d} B, "
        f"{result.bytes_per_token(len(clients)):.2f} B per public token per client; "
        f"final own ppl mean {last.mean('own', 'perplexity'):.2f} "
        f"worst {last.worst('own', 'perplexity'):.2f}, "
        f"acc mean {last.mean('own', 'accuracy'):.4f} worst {last.worst('own', 'accuracy'):.4f}"
    )
    print(f"trace: {out}")
    return 0
