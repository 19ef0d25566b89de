"""The scenario both ``scale.py`` and ``parallel.py`` load: one group of many tiny clients.

One client group (``count: clients``) of the same preset shares one frozen base
in one UMi cell (20 MHz, 100 RBs, block Rayleigh fading, proportional fair),
trains LoRA rank 4 on a Dirichlet split of four domains with adaptive Top-k,
and writes no plots. The two benchmarks differ only in the knobs below.
"""

from __future__ import annotations

_TEMPLATE = """\
name: {name}
seed: 11
clients:
  - {{name: c, count: {clients}, model: {{preset: {preset}, lora_rank: 4}}, device: phone}}
wireless:
  bandwidth_hz: 20e6
  path_loss: {{model: umi, los: auto}}
  fading: {{distribution: rayleigh, correlation: block}}
  mac: {{num_rbs: 100, rb_bandwidth_hz: 180e3, scheduler: proportional_fair}}
data:
  domains: [kjv/law, kjv/gospels, kjv/history, shakespeare/comedies]
  partition: dirichlet
  seq_len: 32
  public_tokens: 1024
  shard_tokens: {shard_tokens}
  eval_tokens: {eval_tokens}
distillation:
  method: adaptive
  rounds: {rounds}
  public_tokens_per_round: {public_tokens_per_round}
  local_steps: {local_steps}
  batch_size: {batch_size}
  k_min: 1
  k_max: 32
server: {{round_deadline_s: {round_deadline_s}, evaluate_every_rounds: {evaluate_every_rounds}}}
output: {{plots: false}}
"""


def many_clients_yaml(*, name: str, clients: int, preset: str, rounds: int,
                      local_steps: int, shard_tokens: int, eval_tokens: int,
                      public_tokens_per_round: int, batch_size: int,
                      round_deadline_s: float, evaluate_every_rounds: int = 1) -> str:
    """The scenario's YAML text (``evaluate_every_rounds`` large: the last round only)."""
    return _TEMPLATE.format(
        name=name, clients=clients, preset=preset, rounds=rounds, local_steps=local_steps,
        shard_tokens=shard_tokens, eval_tokens=eval_tokens,
        public_tokens_per_round=public_tokens_per_round, batch_size=batch_size,
        round_deadline_s=round_deadline_s, evaluate_every_rounds=evaluate_every_rounds)
