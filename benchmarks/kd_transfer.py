"""How far can distillation move a weak client at the learning benchmark's budget?

A diagnostic for check (b) of ``benchmarks/learning.py``. The strong client
(SmolLM2-135M) encodes one public batch of ``scenarios/learning.yaml`` once;
the server's merge of that single upload is the downlink. Each weak client then
runs ``--rounds`` local updates toward it, once with the scenario's α and once
with α = 0 (no distillation), from the same seed, data order and dropout draws,
so the difference is the distillation alone. Printed per weak client: own and
union CE [nats] after the updates, with and without distillation, and their
difference (negative: distillation helped).

    .venv/bin/python benchmarks/kd_transfer.py                      # 12 rounds, 128 public tokens
    .venv/bin/python benchmarks/kd_transfer.py --rounds 6 \\
        --set distillation.public_tokens_per_round=512
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "learning.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--method", default="fd_topk", help="method whose merge builds the target")
    parser.add_argument("--rounds", type=int, default=12, help="local updates per weak client")
    parser.add_argument("--strong", default="smollm2", help="the teacher client")
    parser.add_argument("--weak", nargs="+", default=["smollm2-4l", "llama-law"])
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--set", dest="extra", action="append", default=[],
                        metavar="KEY=VALUE", help="extra scenario override")
    args = parser.parse_args(argv)

    import torch
    from transformers.utils import logging as hf_logging

    from cosim.engine.backend import DistillationBackend
    from cosim.scenario import load_scenario

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    torch.set_num_threads(args.threads)

    def build(names: set[str], more: Sequence[str] = ()) -> DistillationBackend:
        """An engine of the clients ``names`` (one name here: it is client index 0)."""
        scenario = load_scenario(SCENARIO, [f"distillation.method={args.method}",
                                            *args.extra, *more]).config
        clients = [c for c in scenario.engine_clients() if c.name in names]
        return DistillationBackend(clients, scenario.data, scenario.distillation, scenario.seed)

    strong = build({args.strong})
    upload = strong.encode_upload(0)
    downlink, _ = strong.aggregate({0: upload.data}, 0)
    print(f"teacher {args.strong}: {upload.n_tokens} public tokens, mean k {upload.k_mean:.1f}, "
          f"downlink {len(downlink):,d} B; {args.rounds} updates per weak client "
          f"({' '.join(args.extra) or 'scenario as is'})")
    print(f"{'client':<16}{'own KD':>9}{'own no-KD':>11}{'Δown':>8}"
          f"{'union KD':>10}{'union no-KD':>13}{'Δunion':>8}")
    for weak in args.weak:
        ce: dict[str, dict[str, float]] = {}
        for label, more in (("kd", ()), ("none", ("distillation.alpha=0",))):
            backend = build({weak}, more)
            backend.apply_downlink(0, downlink)
            for round_index in range(1, args.rounds + 1):
                backend.local_update(0, round_index)
            ce[label] = {row.split: float(row.loss) for row in backend.evaluate(0)}
        kd, none = ce["kd"], ce["none"]
        print(f"{weak:<16}{kd['own']:9.3f}{none['own']:11.3f}{kd['own'] - none['own']:+8.3f}"
              f"{kd['union']:10.3f}{none['union']:13.3f}{kd['union'] - none['union']:+8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
