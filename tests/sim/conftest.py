"""A scripted backend with known sizes and FLOPs, and scenario texts for co-sim tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from cosim.sim.backend import Backend

DETERMINISTIC = """\
name: det
seed: 3
clients:
  - {name: a, distance_m: 10, device: unit}
wireless:
  bandwidth_hz: 1e6
  path_loss: {model: free_space}
  fading: {distribution: none, correlation: block}
  link: {model: shannon, max_spectral_efficiency: 2.0}
  mac: {slot_s: 1e-3, num_rbs: 10, rb_bandwidth_hz: 100e3, scheduler: max_rate}
  packets: {mtu_bytes: 100}
  channel_sample_every_slots: 1
distillation: {rounds: 2}
server: {round_deadline_s: null}
compute:
  profiles: {unit: {effective_flops_per_s: 1000.0}}
output: {plots: false}
"""

# Real tiny engine: two heterogeneous tiny SLMs, very small data, one fast round.
TINY_REAL = """\
name: tiny
seed: 5
clients:
  - {name: near, model: {preset: tiny-llama, lora_rank: 4}, domain: kjv/law, distance_m: 30,
     device: laptop}
  - {name: far, model: {preset: tiny-gpt2, lora_rank: 4}, domain: kjv/gospels, distance_m: 450,
     device: laptop}
wireless:
  bandwidth_hz: 5e6
  path_loss: {model: umi, los: nlos}
  fading: {distribution: none, correlation: block}
  mac: {num_rbs: 25}
data:
  domains: [kjv/law, kjv/gospels]
  seq_len: 16
  public_tokens: 512
  shard_tokens: 512
  eval_tokens: 64
distillation:
  method: adaptive
  rounds: 2
  public_tokens_per_round: 64
  local_steps: 1
  batch_size: 4
  k_min: 1
  k_max: 64
server: {round_deadline_s: 0.6}
output: {plots: false}
"""


@dataclass
class ScriptedUpdate:
    flops: float
    loss: float = 1.0
    skipped: bool = False
    reason: str = ""
    wall_s: float = 0.0


@dataclass
class ScriptedUpload:
    data: bytes
    n_tokens: int
    k_mean: float
    flops: float
    below_k_min: bool = False


@dataclass
class ScriptedMetric:
    split: str
    loss: float
    perplexity: float
    accuracy: float


@dataclass
class ScriptedAggregation:
    included: list[int]
    excluded: dict[int, str]


@dataclass
class ScriptedBackend(Backend):
    """Known work: ``update_flops`` per update, ``encode_flops`` and ``upload_bytes`` per upload.

    Implements the same :class:`cosim.sim.backend.Backend` interface as the real engine.
    """

    update_flops: float = 1500.0
    encode_flops: float = 250.0
    upload_bytes: int = 1030
    downlink_bytes: int = 480
    calls: list[tuple[str, int | str, int]] = field(default_factory=list)
    received: list[dict[int, bytes]] = field(default_factory=list)
    budgets: list[tuple[int, float | None]] = field(default_factory=list)
    round: int = 0

    def local_update(self, client: int, round_index: int) -> ScriptedUpdate:
        self.calls.append(("local_update", client, round_index))
        self.round = round_index
        return ScriptedUpdate(self.update_flops)

    def encode_upload(self, client: int, *, budget_bits=None, k=None) -> ScriptedUpload:
        self.calls.append(("encode_upload", client, self.round))
        self.budgets.append((client, budget_bits))
        # Payload bytes are the client's letter (client 0: b"a") so prefixes can be checked.
        body = bytes([ord("a") + client % 26]) * self.upload_bytes
        return ScriptedUpload(body, 64, 8.0, self.encode_flops)

    def aggregate(self, received: dict[int, bytes],
                  round_index: int) -> tuple[bytes, ScriptedAggregation]:
        self.calls.append(("aggregate", ",".join(map(str, sorted(received))), int(round_index)))
        self.received.append(dict(received))
        downlink = b"d" * self.downlink_bytes if received else b""
        return downlink, ScriptedAggregation(sorted(received), {})

    def apply_downlink(self, client: int, payload: bytes) -> None:
        self.calls.append(("apply_downlink", client, len(payload)))

    def state_dict(self) -> dict[str, object]:
        return {"round": self.round}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.round = int(state["round"])  # type: ignore[arg-type]

    def evaluate(self, client: int) -> list[ScriptedMetric]:
        return [ScriptedMetric("own", 2.0, 7.39, 0.25), ScriptedMetric("union", 2.5, 12.2, 0.2)]
