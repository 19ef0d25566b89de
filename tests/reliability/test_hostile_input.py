"""Hostile input (issue 7, item 5): safe YAML, safe model loading, bounded payload decoding.

Two kinds of checks: behaviour (a ``!!python`` tag is refused, a pickled
model file is never unpickled, a forged payload header allocates nothing
beyond what the bytes justify) and a scan of the package's source with
:mod:`ast`, so a later edit that adds an unsafe call fails here.
"""

from __future__ import annotations

import ast
import pickle
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

from cosim.engine import codec
from cosim.engine.codec_sparse import DenseLogits
from cosim.engine.config import ModelSpec
from cosim.errors import PayloadError, ScenarioError
from cosim.scenario import parse_scenario
from tests.engine.test_codec import _with_header, random_sparse

PACKAGE = Path(__file__).resolve().parents[2] / "cosim"

BASE = "clients:\n  - {name: a}\n"


# ---------------------------------------------------------------- YAML
@pytest.mark.parametrize("tagged", [
    "name: !!python/object/apply:os.system ['touch {marker}']",
    "name: !!python/object/new:os.system ['touch {marker}']",
    "name: !!python/name:os.system",
    "seed: !!python/object:pathlib.PosixPath {{}}",
    "description: !!binary aGVsbG8=",  # a safe tag, but bytes are not a string: refused too
])
def test_python_tags_are_refused(tagged: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(ScenarioError):
        parse_scenario(BASE + tagged.format(marker=marker) + "\n", "evil.yaml")
    assert not marker.exists()


def test_overrides_parse_yaml_safely(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(ScenarioError):
        parse_scenario(BASE, "ok.yaml",
                       [f"name=!!python/object/apply:os.system ['touch {marker}']"])
    assert not marker.exists()


# ---------------------------------------------------------------- source scan
def _calls() -> list[tuple[Path, ast.Call]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        out += [(path, node) for node in ast.walk(tree) if isinstance(node, ast.Call)]
    return out


def _name(func: ast.expr) -> str:
    return ast.unparse(func)


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


# Unpickling is allowed only on the pipe between a run and the engine workers
# it spawned itself (the bytes never come from a file or the network).
PRIVATE_PIPE_UNPICKLERS = {"cosim/engine/parallel_executors.py", "cosim/engine/parallel_worker.py"}


def test_source_uses_only_safe_loaders() -> None:
    problems = []
    for path, call in _calls():
        name, where = _name(call.func), f"{path.relative_to(PACKAGE.parent)}:{call.lineno}"
        relative = path.relative_to(PACKAGE.parent).as_posix()
        if name == "pickle.loads" and relative in PRIVATE_PIPE_UNPICKLERS \
                and "recv_bytes" in ast.unparse(call):
            continue
        if name in ("yaml.load", "yaml.load_all", "yaml.unsafe_load", "yaml.full_load",
                    "yaml.unsafe_load_all", "yaml.full_load_all", "pickle.load", "pickle.loads",
                    "dill.load", "joblib.load", "marshal.loads"):
            problems.append(f"{where}: {name}")
        loader = _kw(call, "Loader")
        if loader is not None and "Safe" not in ast.unparse(loader) \
                and "_ScenarioLoader" not in ast.unparse(loader):
            problems.append(f"{where}: {name} with Loader={ast.unparse(loader)}")
        if name == "torch.load":
            weights_only = _kw(call, "weights_only")
            if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                problems.append(f"{where}: torch.load without weights_only=True")
        if name.endswith(".load") and name.startswith(("np", "numpy")):
            pickled = _kw(call, "allow_pickle")
            if pickled is not None and not (isinstance(pickled, ast.Constant)
                                            and pickled.value is False):
                problems.append(f"{where}: {name} with allow_pickle")
        trust = _kw(call, "trust_remote_code")
        if trust is not None and name.endswith("from_pretrained") \
                and ast.unparse(trust) != "spec.trust_remote_code":
            problems.append(f"{where}: trust_remote_code={ast.unparse(trust)}")
        if name.startswith("AutoModel") and name.endswith("from_pretrained") \
                and _kw(call, "gguf_file") is None:
            safetensors = _kw(call, "use_safetensors")
            if not (isinstance(safetensors, ast.Constant) and safetensors.value is True):
                problems.append(f"{where}: {name} without use_safetensors=True")
    assert problems == []


def test_trust_remote_code_is_off_by_default_and_warns_when_set() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ModelSpec(preset="org/model").trust_remote_code is False
    with pytest.warns(UserWarning, match="trust_remote_code=True runs code"):
        ModelSpec(preset="org/model", trust_remote_code=True)


def test_scenario_setting_trust_remote_code_needs_the_command_line_opt_in() -> None:
    """A scenario (or a --set) alone cannot turn on trust_remote_code (issue 16, item 6)."""
    text = "clients:\n  - {name: a, model: {preset: org/model, trust_remote_code: true}}\n"
    with pytest.raises(ScenarioError, match=r"remote.yaml:2 clients\[0\].model.trust_remote_code: "
                       r"true runs code .* pass --trust-remote-code"):
        parse_scenario(text, "remote.yaml")
    with pytest.raises(ScenarioError, match="--trust-remote-code"):
        parse_scenario(BASE, "ok.yaml", ["clients[0].model.trust_remote_code=true"])
    with pytest.warns(UserWarning, match="trust_remote_code"):
        parse_scenario(text, "remote.yaml", trust_remote_code=True)


class _Boom:
    """Unpickling this would create a file: proof that a pickle was loaded."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


@pytest.mark.slow
def test_pickled_model_weights_are_never_unpickled(tmp_path: Path) -> None:
    """A model folder with only ``pytorch_model.bin`` (a pickle) is refused, unread."""
    from cosim.engine.model_loading import load_base_model, tiny_config

    model_dir = tmp_path / "evil-model"
    model_dir.mkdir()
    tiny_config("tiny-llama").save_pretrained(str(model_dir))
    marker = tmp_path / "pwned"
    with (model_dir / "pytorch_model.bin").open("wb") as f:
        pickle.dump({"weight": _Boom(str(marker))}, f)
    with pytest.raises(ScenarioError, match="safetensors"):
        load_base_model(ModelSpec(preset=str(model_dir)), seed=0)
    assert not marker.exists()


# ---------------------------------------------------------------- payload decoding
def _peak_decode_bytes(payload: bytes) -> tuple[int, object]:
    tracemalloc.start()
    try:
        try:
            result: object = codec.decode(payload)
        except PayloadError as exc:
            result = exc
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result


def _forged_payloads() -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    sparse = codec.encode(random_sparse(rng, 3, 1000, 8))
    dense = codec.encode_dense(DenseLogits(np.full((2, 16), -np.log(16), np.float32)))
    big = 2**32 - 1
    return {
        "sparse T=2^32-1": _with_header(sparse, T=big),
        "sparse V=2^32-1 T=2^32-1": _with_header(sparse, V=big, T=big),
        "sparse hidden r=65535": _with_header(sparse, T=big, r=65535, flags=codec.FLAG_HIDDEN),
        "dense V=2^32-1 T=2^32-1": _with_header(dense, V=big, T=big),
        "dense T=2^32-1": _with_header(dense, T=big),
        "sparse k=2^35 record": _with_header(
            sparse[: codec.HEADER_BYTES] + bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x7F]) + b"\0" * 40,
            T=big),
    }


@pytest.mark.parametrize("name", list(_forged_payloads()))
def test_forged_header_cannot_make_the_decoder_allocate(name: str) -> None:
    """Peak allocation while decoding stays within a small multiple of the payload's size.

    The decoder's own working arrays are a few int64 per payload byte (a
    running popcount per byte, record offsets), so 64 bytes per payload byte
    plus 256 KiB of fixed overhead is a generous bound; the forged headers
    claim up to (2^32 − 1)² entries, i.e. exabytes if they were trusted.
    """
    payload = _forged_payloads()[name]
    codec.decode(codec.encode(random_sparse(np.random.default_rng(0), 2, 50, 3)))  # warm caches
    peak, result = _peak_decode_bytes(payload)
    assert peak < 64 * len(payload) + 256 * 1024, (name, peak, len(payload))
    if isinstance(result, codec.Decoded):
        assert result.n_tokens < 10 and not result.complete


def test_nul_byte_in_a_path_is_one_scenario_error(tmp_path: Path) -> None:
    # hypothesis found it: pathlib raised ValueError("embedded null byte")
    from cosim.errors import ScenarioError
    from cosim.scenario_paths import resolve_path

    with pytest.raises(ScenarioError, match=r"data.user_files\[0\]: .*NUL byte"):
        resolve_path("data.user_files[0]", "a\x00b", tmp_path, tmp_path, allow_escape=True)


def test_both_scenario_loaders_construct_only_safe_types_and_agree() -> None:
    """libyaml parses (fast path), the pure-Python loader explains errors; both are safe."""
    import yaml

    from cosim.config import yaml_source

    for loader in (yaml_source._SafeScenarioLoader, yaml_source._CSafeScenarioLoader):
        assert loader is not None and issubclass(loader, yaml.constructor.SafeConstructor)
        assert not issubclass(loader, yaml.constructor.FullConstructor)
    text = "a: 20e6\nb: [1, {c: x}]\nd: &k 3\ne: *k\n"
    expected = {"a": 2e7, "b": [1, {"c": "x"}], "d": 3, "e": 3}
    for loader in (yaml_source._SafeScenarioLoader, yaml_source._CSafeScenarioLoader):
        assert yaml.load(text, Loader=loader) == expected
    assert yaml_source.load_yaml_text(text, "t").data == expected
    # A parse error comes from the pure-Python loader, which names the character.
    with pytest.raises(ScenarioError, match=r"t:1: malformed YAML: found character '\\t'"):
        yaml_source.load_yaml_text("\t- x", "t")
