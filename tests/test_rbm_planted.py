"""Planted teacher, Gibbs sampling against exact marginals, overlap, and a small recovery run."""
import warnings

import numpy as np
import pytest

from lowprec_rbm.posterior import log2cosh
from lowprec_rbm.rbm import BinaryRBM, exact
from lowprec_rbm.rbm.planted import gibbs_sample, overlap, planted_data, planted_teacher


def test_teacher_correlation_and_shape():
    xi = planted_teacher(20000, 3, np.random.default_rng(0), q=0.3)
    assert xi.shape == (20000, 3) and xi.dtype == np.int8
    # E[ξ1 ξ2] = q; standard error of the mean of ±1 products 1/√20000 = 0.007 -> 5 s.e. = 0.035.
    assert np.mean(xi[:, 0] * xi[:, 1]) == pytest.approx(0.3, abs=0.035)
    assert abs(np.mean(xi[:, 0] * xi[:, 2])) < 0.035
    with pytest.raises(ValueError, match="at least 2 hidden"):
        planted_teacher(10, 1, np.random.default_rng(0), q=0.5)
    with pytest.raises(TypeError, match="Generator"):
        planted_teacher(10, 2, 0)


def test_gibbs_samples_follow_the_exact_distribution():
    rng = np.random.default_rng(1)
    W = planted_teacher(6, 2, rng)
    X = gibbs_sample(W, 20000, rng, beta=1.5, burn_in=50, thin=10, n_chains=2000).astype(np.float64)
    S = exact.all_states(6).astype(np.float64)
    logp = log2cosh(1.5 * S @ W / np.sqrt(6)).sum(axis=1)
    p = np.exp(logp - logp.max())
    p /= p.sum()
    C_exact = (S * p[:, None]).T @ S
    # 20000 samples from 2000 independent chains, 10 per chain 10 sweeps apart: s.e. of a ±1 product mean
    # <= 1/√20000 = 0.007 if independent; allow 6 s.e. for residual autocorrelation within chains.
    np.testing.assert_allclose(X.T @ X / len(X), C_exact, atol=0.045)
    assert np.abs(X.mean(0)).max() < 0.045                          # σ -> -σ symmetry: <σ_i> = 0


def test_overlap_is_invariant_to_permutation_and_sign_flips():
    rng = np.random.default_rng(2)
    T = planted_teacher(50, 4, rng)
    W = -T[:, [2, 0, 3, 1]]
    W[:, 1] *= -1
    q, per, perm = overlap(T, W)
    assert q == 1.0 and perm == (1, 3, 0, 2)
    np.testing.assert_array_equal(per, np.ones(4))
    W2 = W.copy()
    W2[:10, 0] *= -1                                                # 10 of 50 flipped in one unit -> 0.6
    assert overlap(T, W2)[1][2] == pytest.approx(0.6)
    with pytest.raises(ValueError, match=r"must both be \(N, P\)"):
        overlap(T, W[:, :3])


@pytest.mark.parametrize("rule,lr", [("blr", 0.2), ("huang", 0.1)])
def test_planted_recovery_smoke(rule, lr):
    # N = 60, P = 2, α = 6, 60 full-batch steps. Chance level of the matched overlap is ~0.13 (|ξ·w|/N of random
    # ±1 vectors has mean 0.8/√N); measured 0.78-0.93 for the BLR on seeds 0-3. Threshold 0.6 on the mean.
    ovs = []
    for s in range(3):
        teacher, X = planted_data(60, 2, 6, np.random.default_rng(s))
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)          # BP must converge here
            model = BinaryRBM(n_hidden=2, rule=rule, learning_rate=lr, epochs=60, random_state=s).fit(X, teacher=teacher)
        ovs.append(model.history_[-1]["overlap"])
        assert model.history_[-1]["overlap"] == overlap(teacher, model.posterior_.map())[0]
    assert np.mean(ovs) > 0.6 and min(ovs) > 0.45
