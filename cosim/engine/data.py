"""Tokenised federated data: public set, non-IID private shards, test splits.

Pipeline (all arrays are token ids, int64 tensors of shape [n_sequences, L],
L = ``DataConfig.seq_len``):

1. Each domain's documents are tokenised (EOS after each document) into one
   stream, cached on disk as ``<cache>/<sha256(text, tokenizer)>.npy``.
2. The stream is cut into n = len // L sequences, shuffled with the run's
   generator and split into test (``test_fraction``), public and private
   pools, which never overlap.
3. The public set takes ``public_tokens / L`` sequences in equal shares from
   the public domains.
4. Private shards of ``shard_tokens / L`` sequences per client:

   - ``by_domain``: a client's sequences all come from its domain; clients
     with the same domain get disjoint slices; clients without a domain are
     assigned the domains round-robin.
   - ``dirichlet``: client i draws p_i ~ Dir(α·1_D) over the D domains and
     then counts ~ Multinomial(n, p_i); small α → nearly one domain per
     client, large α → IID. A client's own (evaluation) domain is argmax p_i.
     Sequences are drawn without replacement; an exhausted pool gives fewer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from cosim.engine.config import DataConfig
from cosim.engine.data_sources import domain_documents, user_domain_name
from cosim.engine.model_loading import cache_root
from cosim.errors import ScenarioError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

_FINGERPRINTS: dict[int, str] = {}


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """sha256 of the tokenizer's serialised vocabulary/merges (memoised per object)."""
    key = id(tokenizer)
    if key not in _FINGERPRINTS:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        blob = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab()))
        _FINGERPRINTS[key] = hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
    return _FINGERPRINTS[key]


def tokenize_documents(
    documents: list[str], tokenizer: PreTrainedTokenizerBase, cache_dir: Path | None
) -> np.ndarray:
    """Token stream [n_tokens] (uint16/int32) of ``documents``, each followed by EOS.

    Cached on disk keyed by the text and the tokenizer fingerprint.
    """
    digest = hashlib.sha256()
    digest.update(tokenizer_fingerprint(tokenizer).encode())
    for doc in documents:
        digest.update(doc.encode("utf-8"))
        digest.update(b"\x00")
    path = cache_dir / f"{digest.hexdigest()[:32]}.npy" if cache_dir is not None else None
    if path is not None and path.is_file():
        return np.load(path)
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    ids = tokenizer(documents, add_special_tokens=False)["input_ids"]
    stream = np.fromiter(
        (t for doc in ids for t in [*doc, eos]),
        dtype=np.int64,
        count=sum(len(d) + 1 for d in ids),
    )
    dtype = np.uint16 if len(tokenizer) <= 65536 else np.int32
    stream = stream.astype(dtype)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, stream)
        tmp.replace(path)
    return stream


@dataclass(frozen=True)
class DomainSplits:
    """One domain's sequences [n, L]: held-out test, public pool, private pool."""

    test: torch.Tensor
    public: torch.Tensor
    private: torch.Tensor


@dataclass
class FederatedData:
    """Everything the engine reads: public set, shards, per-domain test sets."""

    public: torch.Tensor  # [n_public, L]
    shards: dict[str, torch.Tensor]  # client -> [n_i, L]
    own_domain: dict[str, str]  # client -> domain used for its "own" test split
    mixtures: dict[str, dict[str, int]]  # client -> domain -> sequences in its shard
    tests: dict[str, torch.Tensor]  # domain -> [n_test, L]
    seq_len: int

    def union_test(self, max_tokens: int) -> torch.Tensor:
        """Equal shares of every domain's test set, ``max_tokens`` in all: [n, L]."""
        per_domain = max(1, max_tokens // (self.seq_len * len(self.tests)))
        return torch.cat([t[:per_domain] for t in self.tests.values()])


def all_domains(config: DataConfig) -> tuple[str, ...]:
    """Configured domains followed by one ``user/<stem>`` per user file."""
    users = tuple(user_domain_name(p) for p in config.user_files)
    return tuple(dict.fromkeys(config.domains + users))


def split_domain(
    stream: np.ndarray, config: DataConfig, n_public: int, rng: np.random.Generator
) -> DomainSplits:
    """Cut ``stream`` into [n, L] sequences, shuffle, split test / public / private."""
    L = config.seq_len
    n = len(stream) // L
    if n < 3:
        raise ScenarioError(f"a domain has only {len(stream)} tokens; need >= {3 * L}")
    seqs = torch.from_numpy(stream[: n * L].astype(np.int64)).view(n, L)
    seqs = seqs[torch.from_numpy(rng.permutation(n))]
    n_test = max(1, round(config.test_fraction * n))
    n_public = min(n_public, n - n_test - 1)
    return DomainSplits(
        test=seqs[:n_test],
        public=seqs[n_test : n_test + n_public],
        private=seqs[n_test + n_public :],
    )


def build_federated_data(
    config: DataConfig,
    clients: list[tuple[str, str | None]],
    tokenizer: PreTrainedTokenizerBase,
    rng: np.random.Generator,
) -> FederatedData:
    """Tokenise, split and partition the data for ``clients`` = [(name, domain)]."""
    domains = all_domains(config)
    for name, domain in clients:
        if domain is not None and domain not in domains:
            raise ScenarioError(
                f"client {name!r}: domain {domain!r} is not in data.domains ({', '.join(domains)})"
            )
    cache = Path(config.cache_dir) if config.cache_dir else cache_root() / "tokens"
    public_domains = config.public_domains or domains
    for domain in public_domains:
        if domain not in domains:
            raise ScenarioError(
                f"data.public_domains: {domain!r} is not in data.domains ({', '.join(domains)})"
            )
    n_public = -(-config.public_tokens // config.seq_len)
    per_public = -(-n_public // len(public_domains))
    splits: dict[str, DomainSplits] = {}
    for domain in domains:
        stream = tokenize_documents(
            domain_documents(domain, config.user_files), tokenizer, cache
        )
        want = per_public if domain in public_domains else 0
        splits[domain] = split_domain(stream, config, want, rng)
    public = torch.cat([splits[d].public for d in public_domains])
    n_shard = config.shard_tokens // config.seq_len
    if config.partition == "by_domain":
        shards, own, mixtures = _partition_by_domain(clients, splits, domains, n_shard)
    else:
        shards, own, mixtures = _partition_dirichlet(
            clients, splits, domains, n_shard, config.dirichlet_alpha, rng
        )
    tests = {d: s.test for d, s in splits.items()}
    return FederatedData(public, shards, own, mixtures, tests, config.seq_len)


def _partition_by_domain(
    clients: list[tuple[str, str | None]],
    splits: dict[str, DomainSplits],
    domains: tuple[str, ...],
    n_shard: int,
) -> tuple[dict[str, torch.Tensor], dict[str, str], dict[str, dict[str, int]]]:
    own: dict[str, str] = {}
    unassigned = 0
    for name, domain in clients:
        if domain is None:
            domain = domains[unassigned % len(domains)]
            unassigned += 1
        own[name] = domain
    shards: dict[str, torch.Tensor] = {}
    mixtures: dict[str, dict[str, int]] = {}
    for domain in domains:
        members = [name for name, _ in clients if own[name] == domain]
        if not members:
            continue
        pool = splits[domain].private
        size = min(n_shard, len(pool) // len(members))
        if size < 1:
            raise ScenarioError(f"domain {domain!r} is too small for {len(members)} clients")
        for j, name in enumerate(members):
            shards[name] = pool[j * size : (j + 1) * size]
            mixtures[name] = {domain: size}
    return shards, own, mixtures


def _partition_dirichlet(
    clients: list[tuple[str, str | None]],
    splits: dict[str, DomainSplits],
    domains: tuple[str, ...],
    n_shard: int,
    alpha: float,
    rng: np.random.Generator,
) -> tuple[dict[str, torch.Tensor], dict[str, str], dict[str, dict[str, int]]]:
    cursor = dict.fromkeys(domains, 0)
    shards: dict[str, torch.Tensor] = {}
    own: dict[str, str] = {}
    mixtures: dict[str, dict[str, int]] = {}
    for name, _ in clients:
        p = rng.dirichlet(np.full(len(domains), alpha))
        counts = rng.multinomial(n_shard, p)
        parts = []
        mixture: dict[str, int] = {}
        for domain, count in zip(domains, counts, strict=True):
            pool = splits[domain].private
            take = int(min(count, len(pool) - cursor[domain]))
            if take > 0:
                parts.append(pool[cursor[domain] : cursor[domain] + take])
                cursor[domain] += take
                mixture[domain] = take
        if not parts:
            raise ScenarioError(f"client {name!r}: every private pool is exhausted")
        shards[name] = torch.cat(parts)
        own[name] = domains[int(np.argmax(p))]
        mixtures[name] = mixture
    return shards, own, mixtures
