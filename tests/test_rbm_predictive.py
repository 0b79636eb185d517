"""The posterior-predictive hidden representation E_q[P(h = +1 | v, W)] (BinaryRBM.predictive_hidden,
transform_mode="predictive") against Monte Carlo over weight matrices drawn from q, and its deterministic limit."""
from __future__ import annotations

import numpy as np
import pytest

from lowprec_rbm.posterior_file import save_posterior
from lowprec_rbm.rbm import BinaryRBM


def _model(tmp_path, lam, hidden_field, beta):
    meta = {"kind": "rbm", "config": {"n_hidden": lam.shape[1], "beta": beta, "random_state": 0}}
    path = save_posterior(tmp_path / "q.npz", {"lam": lam, "hidden_field": hidden_field}, meta)
    return BinaryRBM.load(path)


@pytest.mark.parametrize("beta", [0.5, 1.0])
def test_predictive_hidden_against_monte_carlo(tmp_path, beta):
    rng = np.random.default_rng(0)
    N, P, M, S = 400, 6, 12, 40000
    lam = rng.normal(0.0, 0.8, (N, P))                       # |m| spread over (0, 1): Ξ_a ~ 0.7
    c = rng.normal(0.0, 0.5, P)
    v = np.where(rng.random((M, N)) < 0.4, 1, -1).astype(np.int8)
    model = _model(tmp_path, lam, c, beta)
    got = model.predictive_hidden(v)
    p_plus = 0.5 * (1.0 + np.tanh(lam))
    acc = np.zeros((M, P))
    acc2 = np.zeros((M, P))
    for _ in range(S // 2000):                               # S weight matrices drawn from q, 2,000 at a time
        W = np.where(rng.random((2000, N, P)) < p_plus, 1.0, -1.0)
        x = np.einsum("mn,snp->smp", v.astype(float), W) / np.sqrt(N) + c
        p = 1.0 / (1.0 + np.exp(-2.0 * beta * x))
        acc += p.sum(axis=0)
        acc2 += (p * p).sum(axis=0)
    mc = acc / S
    se = np.sqrt(np.maximum(acc2 / S - mc ** 2, 0.0) / S)
    # Tolerance: 4 Monte Carlo standard errors (~0.002 here) plus the CLT's error. X_a is a sum of N independent
    # ±1/√N terms; replacing it by a Gaussian changes E f(X) first through the third cumulant,
    # |κ3| f'''/6 with |κ3| <= Σ_i 2|μ_i|(1-μ_i²)/N^{3/2} <= 0.77/√N = 0.039 and |f'''| <= (2β)³/8 for
    # f = sigmoid(2β ·): <= 0.0064 at β = 1 (0.0008 at β = 0.5), the next terms O(1/N). Quadrature error ~1e-8.
    assert np.all(np.abs(got - mc) <= 4 * se + 0.0065), np.max(np.abs(got - mc) - 4 * se)
    # The check discriminates: the MAP weights' probabilities (what transform() gives) are far from it.
    assert np.max(np.abs(model.transform(v) - mc)) > 0.1
    # and the transform_mode switch returns the same array
    model.set_params(transform_mode="predictive")
    np.testing.assert_array_equal(model.transform(v), got)


def test_predictive_hidden_is_the_map_probability_for_a_certain_posterior(tmp_path):
    # |λ| = 40: m = ±1 to double precision, Ξ = 0, so E_q P(h|v, W) = P(h|v, sign λ) up to rounding (1e-12).
    rng = np.random.default_rng(1)
    lam = 40.0 * np.where(rng.random((30, 4)) < 0.5, 1.0, -1.0)
    model = _model(tmp_path, lam, rng.normal(0, 0.3, 4), 1.3)
    v = np.where(rng.random((9, 30)) < 0.5, 1, -1).astype(np.int8)
    np.testing.assert_allclose(model.predictive_hidden(v), model.transform(v), rtol=0, atol=1e-12)


def test_predictive_hidden_argument_errors(tmp_path):
    model = _model(tmp_path, np.zeros((5, 2)), np.zeros(2), 1.0)
    with pytest.raises(ValueError, match="X has 4 features"):
        model.predictive_hidden(np.ones((3, 4), dtype=np.int8))
    with pytest.raises(ValueError, match="n_quad must be an int >= 1"):
        model.predictive_hidden(np.ones((3, 5), dtype=np.int8), n_quad=0)
    with pytest.raises(TypeError, match="n_quad must be an int"):
        model.predictive_hidden(np.ones((3, 5), dtype=np.int8), n_quad=2.5)
