"""Aggregation policies: hand-computed examples, dense references, artificial mass."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cosim.engine import aggregation, codec
from cosim.engine.aggregation import aggregate, aggregate_weighted
from cosim.engine.aggregation_weights import client_weights
from cosim.engine.codec_sparse import SparseLogits, sparse_from_rows


def one_token(V: int, entries: dict[int, float], hidden: list[float] | None = None
              ) -> SparseLogits:
    """A single-token client report; residual = 1 − Σ reported."""
    ids = np.array([sorted(entries)], dtype=np.int64)
    probs = np.array([[entries[i] for i in sorted(entries)]])
    h = None if hidden is None else np.array([hidden], dtype=np.float32)
    return sparse_from_rows(ids, probs, np.array([len(entries)]), V, h)


def as_dict(sl: SparseLogits, j: int = 0) -> dict[int, float]:
    lo, hi = sl.offsets[j], sl.offsets[j + 1]
    return dict(zip(sl.indices[lo:hi].tolist(), sl.probs[lo:hi].tolist(), strict=True))


# V = 4. A reports {0: .6, 1: .3}, r = .1 (floor .05 on 2, 3);
#        B reports {0: .5, 2: .4}, r = .1 (floor .05 on 1, 3).
A = one_token(4, {0: 0.6, 1: 0.3})
B = one_token(4, {0: 0.5, 2: 0.4})


def test_residual_hand_example() -> None:
    out = aggregate([A, B], "residual", k_down=3)
    # Q(0) = (.6+.5)/2, Q(1) = (.3+.05)/2, Q(2) = (.05+.4)/2, Q(3) = .05 (shared floor)
    assert as_dict(out) == pytest.approx({0: 0.55, 1: 0.175, 2: 0.225})
    assert out.residual[0] == pytest.approx(0.05)
    assert out.floor()[0] == pytest.approx(0.05)


def test_masked_mean_hand_example() -> None:
    out = aggregate([A, B], "masked_mean", k_down=3)
    # Q̃ = {0: .55, 1: .3, 2: .4} (sum 1.25), scaled to 1 − r̄ = .9: factor .72
    assert as_dict(out) == pytest.approx({0: 0.396, 1: 0.216, 2: 0.288})
    assert out.residual[0] == pytest.approx(0.1)


def test_zero_pad_hand_example() -> None:
    out = aggregate([A, B], "zero_pad", k_down=4)
    # probability padding: Q̃ = {0: (.6+.5)/2, 1: .3/2, 2: .4/2} = {.55, .15, .2}, sum .9;
    # renormalised over the union, nothing off it
    assert as_dict(out) == pytest.approx({0: 0.55 / 0.9, 1: 0.15 / 0.9, 2: 0.2 / 0.9})
    assert out.residual[0] == pytest.approx(0.0, abs=1e-6)


def test_zero_pad_logits_illustration_hand_example() -> None:
    out = aggregate([A, B], "zero_pad_logits", k_down=4)
    # L = {0: (ln .6 + ln .5)/2, 1: ln(.3)/2, 2: ln(.4)/2, 3: 0}; e^L = {√.3, √.3, √.4, 1}
    z = 2 * math.sqrt(0.3) + math.sqrt(0.4) + 1
    expected = {0: math.sqrt(0.3) / z, 1: math.sqrt(0.3) / z, 2: math.sqrt(0.4) / z}
    assert as_dict(out) == pytest.approx(expected)
    # the entry nobody reported ends up the most probable: the artificial value
    assert out.residual[0] == pytest.approx(1 / z)
    assert 1 / z > max(expected.values())


def test_zero_pad_centered_hand_example() -> None:
    out = aggregate([A, B], "zero_pad_logits", k_down=4, zero_pad_logits="centered")
    # m̂_A = (ln .6 + ln .3 + 2 ln .05)/4, m̂_B = (ln .5 + ln .4 + 2 ln .05)/4
    mA = (math.log(0.6) + math.log(0.3) + 2 * math.log(0.05)) / 4
    mB = (math.log(0.5) + math.log(0.4) + 2 * math.log(0.05)) / 4
    L = np.array([(math.log(0.6) - mA + math.log(0.5) - mB) / 2,
                  (math.log(0.3) - mA) / 2, (math.log(0.4) - mB) / 2, 0.0])
    q = np.exp(L) / np.exp(L).sum()
    assert as_dict(out) == pytest.approx({0: q[0], 1: q[1], 2: q[2]})


def test_weights_data_size_and_reliability() -> None:
    out = aggregate([A, B], "residual", weighting="data_size", data_sizes=[3, 1], k_down=3)
    # w̃ = (.75, .25): Q(0) = .75·.6 + .25·.5, Q(1) = .75·.3 + .25·.05, Q(2) = .75·.05 + .25·.4
    assert as_dict(out) == pytest.approx({0: 0.575, 1: 0.2375, 2: 0.1375})
    same = aggregate([A, B], "residual", weighting="reliability", reliability=[0.9, 0.3],
                     k_down=3)
    assert as_dict(same) == pytest.approx(as_dict(out))
    with pytest.raises(ValueError, match="data_sizes"):
        aggregate([A, B], weighting="data_size")
    with pytest.raises(ValueError, match="reliability"):
        aggregate([A, B], weighting="reliability", reliability=[1.0, -1.0])


def test_confidence_weights_are_inverse_entropy() -> None:
    sure = one_token(4, {0: 0.97, 1: 0.01})   # residual .02 → floor .01 on 2, 3
    unsure = one_token(4, {1: 0.3, 2: 0.3})   # residual .4 → floor .2 on 0, 3
    (w_sure,), (w_unsure,) = client_weights([sure, unsure], "confidence",
                                            confidence_eps_nats=0.1)
    h_sure = -(0.97 * math.log(0.97) + 3 * 0.01 * math.log(0.01))
    h_unsure = -(2 * 0.3 * math.log(0.3) + 2 * 0.2 * math.log(0.2))
    assert w_sure == pytest.approx(1 / (h_sure + 0.1))
    assert w_unsure == pytest.approx(1 / (h_unsure + 0.1))
    out = aggregate([sure, unsure], "residual", weighting="confidence", k_down=4)
    a = w_sure / (w_sure + w_unsure)
    assert as_dict(out)[0] == pytest.approx(a * 0.97 + (1 - a) * 0.2)


def test_partial_delivery_uses_only_clients_that_delivered() -> None:
    rng = np.random.default_rng(0)
    V = 50
    full = sparse_from_rows(np.stack([rng.permutation(V)[:6] for _ in range(3)]),
                            rng.dirichlet(np.ones(7), size=3)[:, :6], np.full(3, 6), V,
                            hidden=np.arange(6, dtype=np.float32).reshape(3, 2))
    short = sparse_from_rows(np.stack([rng.permutation(V)[:6] for _ in range(1)]),
                             rng.dirichlet(np.ones(7), size=1)[:, :6], np.full(1, 6), V,
                             hidden=np.array([[10.0, 20.0]], dtype=np.float32))
    out = aggregate([full, short], "residual", k_down=6)
    assert out.n_tokens == 3
    # tokens 1 and 2 come from `full` alone: its own distribution, exactly
    for j in (1, 2):
        assert as_dict(out, j) == pytest.approx(as_dict(full, j))
        assert out.residual[j] == pytest.approx(full.residual[j], abs=1e-6)
    np.testing.assert_allclose(out.hidden, [[5.0, 10.5], [2, 3], [4, 5]])


# --- the paper's criticism: zero-padded log-probs invent mass on unreported entries ------

def test_zero_pad_logits_puts_artificial_mass_on_unreported_entries() -> None:
    rng = np.random.default_rng(1)
    V, T, k = 1000, 20, 10
    ids = np.stack([rng.permutation(V)[:k] for _ in range(T)])
    # two clients that agree on the same top-10 with 95% of the mass
    clients = [sparse_from_rows(ids, rng.dirichlet(np.ones(k), size=T) * 0.95, np.full(T, k), V)
               for _ in range(2)]
    unreported_true = np.mean([c.residual for c in clients], axis=0)  # .05 per token
    res = aggregate(clients, "residual", k_down=k)
    zp = aggregate(clients, "zero_pad_logits", k_down=k)
    prob_pad = aggregate(clients, "zero_pad", k_down=k)
    # residual: the mass off the reported set is exactly the clients' mean residual
    np.testing.assert_allclose(res.residual, unreported_true, atol=1e-6)
    # probability padding keeps everything on the reported set (the baseline is sane)
    np.testing.assert_allclose(prob_pad.residual, 0.0, atol=1e-6)
    # zero_pad_logits: 990 zero logits outweigh log-probs ≤ 0 — nearly all mass moves off the set
    assert np.all(zp.residual > 0.95)
    assert np.all(zp.residual > 10 * unreported_true)


# --- dense references on random inputs -------------------------------------------------

def random_clients(seed: int, n: int = 4, V: int = 40) -> list[SparseLogits]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        T = int(rng.integers(1, 7))
        k = rng.integers(0, 12, size=T)
        ids = np.stack([rng.permutation(V)[:12] for _ in range(T)])
        p = np.sort(rng.dirichlet(np.full(V, 0.2), size=T), axis=1)[:, ::-1][:, :12]
        out.append(sparse_from_rows(ids, p, k, V))
    return out


def dense_reference(clients: list[SparseLogits], w: list[np.ndarray], policy: str,
                    zero_pad_logits: str = "log_prob") -> np.ndarray:
    V = clients[0].vocab_size
    T = max(c.n_tokens for c in clients)
    Q = np.zeros((T, V))
    for j in range(T):
        live = [(c, wi[j]) for c, wi in zip(clients, w, strict=True) if c.n_tokens > j]
        tot = sum(x for _, x in live)
        if policy == "residual":
            Q[j] = sum(x / tot * c.dense_probs()[j] for c, x in live)
        elif policy == "masked_mean":
            num, den = np.zeros(V), np.zeros(V)
            for c, x in live:
                lo, hi = c.offsets[j], c.offsets[j + 1]
                num[c.indices[lo:hi]] += x / tot * c.probs[lo:hi]
                den[c.indices[lo:hi]] += x / tot
            qt = np.divide(num, den, out=np.zeros(V), where=den > 0)
            r_bar = sum(x / tot * c.residual[j] for c, x in live)
            union = qt * (1 - r_bar) / qt.sum() if qt.sum() > 0 else qt
            # the leftover mass r̄ is spread over the entries nobody reported
            Q[j] = np.where(den > 0, union, (1 - union.sum()) / max(1, (den == 0).sum()))
        elif policy == "zero_pad":
            num = np.zeros(V)
            for c, x in live:
                lo, hi = c.offsets[j], c.offsets[j + 1]
                num[c.indices[lo:hi]] += x / tot * c.probs[lo:hi]
            # an empty union leaves all mass as residual, spread uniformly
            Q[j] = num / num.sum() if num.sum() > 0 else np.full(V, 1.0 / V)
        else:
            L = np.zeros(V)
            for c, x in live:
                lo, hi = c.offsets[j], c.offsets[j + 1]
                logp = np.log(c.probs[lo:hi].astype(np.float64))
                if zero_pad_logits == "centered":
                    logp = np.maximum(logp, math.log(1e-30))
                    f = max(c.floor()[j], 1e-30)
                    logp = logp - (logp.sum() + (V - (hi - lo)) * math.log(f)) / V
                L[c.indices[lo:hi]] += x / tot * logp
            Q[j] = np.exp(L - L.max()) / np.exp(L - L.max()).sum()
    return Q


@pytest.mark.parametrize("policy", ["residual", "masked_mean", "zero_pad", "zero_pad_logits",
                                    "centered"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_dense_reference(policy: str, seed: int) -> None:
    clients = random_clients(seed)
    rng = np.random.default_rng(100 + seed)
    w = [rng.uniform(0.1, 2.0, size=c.n_tokens) for c in clients]
    pad = "centered" if policy == "centered" else "log_prob"
    pol = "zero_pad_logits" if policy == "centered" else policy
    V = clients[0].vocab_size
    out = aggregate_weighted(clients, w, pol, k_down=V, zero_pad_logits=pad)  # type: ignore[arg-type]
    Q = dense_reference(clients, w, pol, pad)
    got = np.zeros_like(Q)
    got[out.rows(), out.indices] = out.probs
    reported = np.zeros(Q.shape, dtype=bool)
    reported[out.rows(), out.indices] = True
    # reported entries exactly; the rest share the output floor
    np.testing.assert_allclose(got[reported], Q[reported], rtol=1e-5, atol=1e-7)
    floor = out.floor()
    np.testing.assert_allclose(Q[~reported], np.broadcast_to(floor[:, None], Q.shape)[~reported],
                               rtol=1e-5, atol=1e-7)
    # a smaller k_down keeps the largest entries of the same distribution
    top3 = aggregate_weighted(clients, w, pol, k_down=3, zero_pad_logits=pad)  # type: ignore[arg-type]
    for j in range(out.n_tokens):
        kept = np.sort(top3.probs[top3.offsets[j]:top3.offsets[j + 1]])
        best = np.sort(got[j][reported[j]])[::-1][: kept.size][::-1]
        np.testing.assert_allclose(kept, best, rtol=1e-6)
    np.testing.assert_allclose(top3.residual, 1 - np.bincount(top3.rows(), top3.probs,
                                                              minlength=top3.n_tokens),
                               atol=1e-6)


def test_top_k_sort_path_matches_matrix_path(monkeypatch: pytest.MonkeyPatch) -> None:
    clients = random_clients(7, n=5)
    via_matrix = aggregate(clients, "residual", k_down=4)
    monkeypatch.setattr(aggregation, "_MATRIX_SLACK", -10**9)  # force the sort path
    via_sort = aggregate(clients, "residual", k_down=4)
    np.testing.assert_array_equal(via_sort.offsets, via_matrix.offsets)
    np.testing.assert_array_equal(via_sort.indices, via_matrix.indices)
    np.testing.assert_array_equal(via_sort.probs, via_matrix.probs)


def test_output_is_re_encodable() -> None:
    out = aggregate(random_clients(5), "residual", k_down=8)
    dec = codec.decode(codec.encode(out, "fp16"), allow_partial=False).logits
    assert isinstance(dec, SparseLogits)
    np.testing.assert_array_equal(dec.indices, out.indices)
    np.testing.assert_allclose(dec.probs, out.probs, rtol=1e-2, atol=1e-6)


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError, match="nothing to aggregate"):
        aggregate([])
    with pytest.raises(ValueError, match="vocabulary"):
        aggregate([A, one_token(5, {0: 0.5})])
    with pytest.raises(ValueError, match="policy"):
        aggregate([A], "mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hidden"):
        aggregate([A, one_token(4, {1: 0.5}, hidden=[1.0])])


# --- invariants (DESIGN.md 1.4) and quality weights -------------------------------------

REAL_POLICIES = ["residual", "masked_mean", "zero_pad"]


@pytest.mark.parametrize("policy", REAL_POLICIES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merging_one_client_returns_that_client(policy: str, seed: int) -> None:
    (client,) = random_clients(seed, n=1)
    out = aggregate([client], policy, k_down=12)  # type: ignore[arg-type]
    for j in range(client.n_tokens):
        mine = as_dict(client, j)
        got = as_dict(out, j)
        assert set(got) == set(mine)
        if mine:
            assert max(got, key=got.get) == max(mine, key=mine.get)  # type: ignore[arg-type]
            # residual and masked_mean return the very distribution; zero_pad renormalises it
            scale = 1.0 / sum(mine.values()) if policy == "zero_pad" else 1.0
            assert got == pytest.approx({v: p * scale for v, p in mine.items()}, rel=1e-5)


def test_zero_pad_logits_illustration_inverts_a_single_client() -> None:
    # one client, one token, argmax id 0; the padded zeros (ids 2, 3) outrank every log p < 0:
    # Q = {0: .6, 1: .3, 2: 1, 3: 1} / 2.9, so the merged argmax is an unreported id
    out = aggregate([A], "zero_pad_logits", k_down=4)
    assert as_dict(out) == pytest.approx({0: 0.6 / 2.9, 1: 0.3 / 2.9})
    assert out.floor()[0] == pytest.approx(1 / 2.9)
    assert out.floor()[0] > max(as_dict(out).values())


def cross_entropy(sl: SparseLogits, y: np.ndarray) -> float:
    """−mean_j log q_j(y_j) of the reconstructed distribution [nats]."""
    from cosim.engine.aggregation_weights import true_token_log_probs

    return -float(true_token_log_probs(sl, y).mean())


def good_and_junk(seed: int, V: int = 2000, T: int = 300, k: int = 8
                  ) -> tuple[SparseLogits, list[SparseLogits], np.ndarray]:
    """A client that gives the true token ~0.5 on 80% of positions, two near-uniform ones."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, V, size=T)
    ids = np.stack([rng.permutation(V)[:k] for _ in range(T)])
    hit = rng.uniform(size=T) < 0.8
    ids[hit, 0] = y[hit]
    ids[hit, 1:] = np.where(ids[hit, 1:] == y[hit, None], (y[hit, None] + 1) % V, ids[hit, 1:])
    p = np.full((T, k), 0.3 / (k - 1))
    p[:, 0] = 0.5
    good = sparse_from_rows(ids, p, np.full(T, k), V)
    junk = []
    for _ in range(2):
        jids = np.stack([rng.permutation(V)[:k] for _ in range(T)])
        jp = (1.0 / V) * rng.uniform(0.9, 1.1, size=(T, k))
        junk.append(sparse_from_rows(jids, jp, np.full(T, k), V))
    return good, junk, y


def good_covers(sl: SparseLogits, y: np.ndarray) -> np.ndarray:
    """Whether y_j is among token j's reported ids [T] bool."""
    rows = sl.rows()
    out = np.zeros(sl.n_tokens, dtype=bool)
    out[rows[sl.indices == y[rows]]] = True
    return out


def test_likelihood_scores_and_weights_closed_form() -> None:
    # A: y=0 reported .6; B: y=0 reported .5; C: y=3 unreported by A → floor .05
    y = np.array([0])
    from cosim.engine.aggregation_weights import likelihood_scores, likelihood_weights

    ell = likelihood_scores([A, B], y)
    assert ell == pytest.approx([math.log(0.6), math.log(0.5)])
    assert likelihood_scores([A], np.array([3])) == pytest.approx([math.log(0.05)])
    w = likelihood_weights(ell, 4, temperature_nats=0.5)
    assert w == pytest.approx([1.0, math.exp((math.log(0.5) - math.log(0.6)) / 0.5)])
    # no better than uniform (log .05 < −log 4): weight 0; unknown targets are skipped
    assert likelihood_weights(np.array([math.log(0.05), -math.log(4)]), 4).tolist() == [0, 0]
    assert likelihood_scores([A], np.array([-1])).tolist() == [-math.inf]
    with pytest.raises(ValueError, match="targets"):
        client_weights([A], "likelihood")


@pytest.mark.parametrize("policy", REAL_POLICIES)
@pytest.mark.parametrize("seed", [0, 1])
def test_uniform_clients_barely_move_the_merged_target(policy: str, seed: int) -> None:
    good, junk, y = good_and_junk(seed)
    alone = aggregate([good], policy, weighting="likelihood", targets=y, k_down=64)  # type: ignore[arg-type]
    merged = aggregate([good, *junk], policy, weighting="likelihood", targets=y,  # type: ignore[arg-type]
                       k_down=64)
    # δ = 0.1 nats. The junk clients' ℓ is ≈ −log V, at most ~0.1 nats above it by chance, so
    # their weight is ≤ exp(ℓ_junk − ℓ_good) ≈ exp(−log 2000 + 1.1 + 0.1) < 2e-3: a shift far
    # below δ. zero_pad gives an unreported y probability 0 (CE floored at 69 nats), where
    # any junk mass moves CE arbitrarily: compare it on the positions the good client covers.
    ys = y if policy != "zero_pad" else np.where(good_covers(good, y), y, -1)
    assert abs(cross_entropy(merged, ys) - cross_entropy(alone, ys)) < 0.1
    if policy == "residual":
        assert abs(cross_entropy(merged, y) - cross_entropy(good, y)) < 0.1
    # uniform weights, by contrast, dilute the good client by 3 (≈ log 3 nats on the hits)
    if policy == "residual":
        diluted = aggregate([good, *junk], policy, weighting="uniform", k_down=64)
        assert cross_entropy(diluted, y) - cross_entropy(good, y) > 0.5


def test_mean_dense_is_the_weighted_mean_per_delivered_token() -> None:
    from cosim.engine.codec_sparse import DenseLogits
    from cosim.engine.methods import mean_dense

    rng = np.random.default_rng(3)
    V = 30
    pa, pb = rng.dirichlet(np.ones(V), size=4), rng.dirichlet(np.ones(V), size=2)
    a = DenseLogits(np.log(pa).astype(np.float32))
    b = DenseLogits(np.log(pb).astype(np.float32))  # delivered a 2-token prefix
    out = np.exp(mean_dense([a, b], [3.0, 1.0]).log_probs.astype(np.float64))
    expected = pa.copy()
    expected[:2] = 0.75 * pa[:2] + 0.25 * pb
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    np.testing.assert_allclose(mean_dense([a], [2.0]).log_probs, a.log_probs)
