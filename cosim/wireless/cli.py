"""``cosim wireless SCENARIO.yaml --out run.h5``: a wireless-only run written to an HDF5 trace."""

from __future__ import annotations

import argparse
from pathlib import Path


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
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting by dotted path, e.g. wireless.mac.scheduler=max_rate",
    )
    p.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Handler of ``cosim wireless``: returns the exit code."""
    import numpy as np

    from cosim.scenario import load_scenario
    from cosim.trace.writer import TraceWriter
    from cosim.wireless.runner import place_distances, run_wireless

    loaded = load_scenario(args.scenario, args.overrides)
    scenario = loaded.config
    # The same seed streams as the full co-simulation, so a wireless-only run of a
    # scenario sees the clients where `cosim run` places them.
    place_seq, wireless_seq, _ = np.random.SeedSequence(scenario.seed).spawn(3)
    clients = scenario.expanded_clients()
    distances = place_distances(
        scenario.wireless,
        [c.group.distance_m for c in clients],
        np.random.default_rng(place_seq),
    )
    speeds = np.array([c.group.speed_mps for c in clients], dtype=np.float64)
    uplink_source = None
    if scenario.channel is not None:
        # Trace replay lives in cosim.channels (which builds on this package), so the
        # front-end, not the wireless model, wires it in. Coverage without looping is
        # checked against the traffic horizon, the time this command simulates.
        from cosim.channels.replay import build_replay_source

        tr = scenario.wireless.traffic
        horizon = tr.duration_s if tr.duration_s is not None else tr.rounds * tr.period_s
        uplink_source = build_replay_source(
            scenario.channel, len(clients), scenario.wireless.mac.slot_s,
            base_dir=loaded.base_dir, required_duration_s=horizon,
        )
    with TraceWriter(
        args.out,
        scenario_yaml=loaded.text,
        resolved_config=loaded.resolved_plain(),
        seed=scenario.seed,
        command="wireless",
        scenario_path=str(args.scenario),
        overrides=loaded.overrides,
    ) as trace:
        trace.append("clients", {
            "client": [c.index for c in clients], "name": [c.name for c in clients],
            "model": [c.group.model.preset for c in clients],
            "domain": [c.group.domain or "" for c in clients],
            "distance_m": [float(d) for d in distances], "speed_mps": [float(v) for v in speeds],
            "device": [c.group.device for c in clients],
            # no model is built in a wireless-only run: parameter counts are unknown (-1)
            "n_params": [-1] * len(clients), "n_trainable": [-1] * len(clients),
        })  # fmt: skip
        summary = run_wireless(
            scenario.wireless, distances, speeds, np.random.default_rng(wireless_seq), trace,
            uplink_source=uplink_source,
        )
    print(
        f"{args.out}: {summary.transfers} transfers, {summary.complete} complete, "
        f"{summary.cut_off} cut off, {summary.delivered_bytes} B delivered, "
        f"mean latency {summary.mean_latency_s:.4g} s, simulated {summary.end_s:g} s"
    )
    return 0
