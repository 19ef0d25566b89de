"""``cosim wireless SCENARIO.yaml --out run.h5``: a wireless-only run written to an HDF5 trace."""

from __future__ import annotations

import argparse
from pathlib import Path

from cosim.cli.options import add_set_option


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``wireless`` subcommand."""
    p = subparsers.add_parser(
        "wireless",
        help="wireless-only run: clients upload the scenario's wireless.traffic",
        description=(
            "Simulate only the network of a scenario: every client uploads "
            "wireless.traffic.payload_bytes each wireless.traffic.period_s (or a full "
            "buffer); channel samples, packets and transfers go to the HDF5 trace."
        ),
    )
    p.add_argument("scenario", type=Path, help="scenario YAML file")
    p.add_argument("--out", type=Path, required=True, help="output HDF5 trace")
    add_set_option(p, "override a setting by dotted path (repeatable), "
                   "e.g. wireless.mac.scheduler=max_rate")
    p.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Handler of ``cosim wireless``: returns the exit code.

    Clients sit where ``cosim run`` places them (the same seed streams,
    :mod:`cosim.sim.build`), over the same uplink channel; a trace that does
    not loop must cover the traffic horizon, the time this command simulates.
    """
    from cosim.scenario import load_scenario
    from cosim.sim.build import build_uplink_source, place_clients, record_clients, seed_streams
    from cosim.sim.wireless_only import run_wireless, traffic_horizon_s
    from cosim.trace.recorder import Recorder
    from cosim.trace.writer import TraceWriter

    loaded = load_scenario(args.scenario, args.overrides)
    scenario = loaded.config
    place_rng, wireless_rng, _ = seed_streams(scenario)
    distances, speeds = place_clients(scenario, place_rng)
    uplink_source = build_uplink_source(loaded, len(distances),
                                        traffic_horizon_s(scenario.wireless))
    with TraceWriter(
        args.out,
        scenario_yaml=loaded.text,
        resolved_config=loaded.resolved_plain(),
        seed=scenario.seed,
        command="wireless",
        scenario_path=str(args.scenario),
        overrides=loaded.overrides,
    ) as trace:
        recorder = Recorder(trace)
        # no model is built in a wireless-only run: parameter counts are unknown (-1)
        record_clients(recorder, scenario, distances, speeds)
        summary = run_wireless(scenario.wireless, distances, speeds, wireless_rng, recorder,
                               uplink_source=uplink_source)
    print(
        f"{args.out}: {summary.transfers} transfers, {summary.complete} complete, "
        f"{summary.cut_off} cut off, {summary.delivered_bytes} B delivered, "
        f"mean latency {summary.mean_latency_s:.4g} s, simulated {summary.end_s:g} s"
    )
    return 0
