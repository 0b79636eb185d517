"""The E-step approximations against exact enumeration on tiny binary-synapse RBMs.

Layers, each checked on its own: (1) the enumerators themselves; (2) BP on the dual network for given fields
(exact on a tree, O(1/N)-accurate on the dense loopy graph, Bethe stationarity); (3) the CLT data term against
E_q by enumeration of all W; (4) the quenched log-partition against E_q ln Z(W) (a known non-vanishing gap).
"""
import itertools

import numpy as np
import pytest

from lowprec_rbm.posterior import log2cosh
from lowprec_rbm.rbm import bp, clt, exact


def _brute_log_z(W, beta):
    # Direct sum over visible AND hidden states of exp(-beta E): the definition, no algebra.
    N, P = W.shape
    total = 0.0
    for s in itertools.product([-1, 1], repeat=N):
        for h in itertools.product([-1, 1], repeat=P):
            total += np.exp(beta / np.sqrt(N) * np.array(s) @ W @ np.array(h))
    return np.log(total)


def test_enumerators_match_the_definition():
    rng = np.random.default_rng(0)
    W = np.where(rng.random((5, 2)) < 0.5, -1, 1)
    assert exact.log_partition(W, 1.3) == pytest.approx(_brute_log_z(W, 1.3), abs=1e-12)
    S = exact.all_states(4)
    assert S.shape == (16, 4) and len({tuple(r) for r in S}) == 16
    X = np.where(rng.random((7, 5)) < 0.5, -1, 1)
    direct = sum(np.log(sum(np.exp(1.3 / np.sqrt(5) * x @ W @ np.array(h))
                            for h in itertools.product([-1, 1], repeat=2))) for x in X) - 7 * _brute_log_z(W, 1.3)
    assert exact.log_likelihood(X, W, 1.3) == pytest.approx(direct, abs=1e-10)
    # <σ_i h_a> is the derivative of ln Z(J) in J_ia (central differences, error O(eps²) ~ 1e-10).
    J = rng.normal(size=(6, 2)) * 0.4
    eps = 1e-5
    num = np.zeros_like(J)
    for i, a in np.ndindex(*J.shape):
        E = np.zeros_like(J)
        E[i, a] = eps
        num[i, a] = (exact.dual_log_partition(J + E) - exact.dual_log_partition(J - E)) / (2 * eps)
    np.testing.assert_allclose(exact.dual_moments(J)["sigma_h"], num, atol=1e-8)
    with pytest.raises(ValueError, match="enumeration"):
        exact.all_states(30)


def test_q_expectation_enumeration_and_monte_carlo():
    rng = np.random.default_rng(1)
    m = rng.uniform(-0.9, 0.9, size=(3, 2))
    A = rng.normal(size=(3, 2))
    linear = lambda Ws: np.einsum("bnp,np->b", Ws, A)              # E_q = Σ A m exactly, gradient = A
    res = exact.q_expectation(linear, m)
    assert res.exact and res.value == pytest.approx(float(np.sum(A * m)), abs=1e-12)
    np.testing.assert_allclose(res.grad, A, atol=1e-12)
    # Monte Carlo beyond N·P = 16 (here 20 weights): within 5 standard errors of the exact values.
    m = rng.uniform(-0.9, 0.9, size=(10, 2))
    A = rng.normal(size=(10, 2))
    quad = lambda Ws: np.einsum("bnp,np->b", Ws, A) ** 2
    # E[(Σ A W)²] = (Σ A m)² + Σ A² (1 - m²); gradient 2 (Σ A m) A - 2 A² m.
    mc = exact.q_expectation(quad, m, rng=np.random.default_rng(2), n_samples=20000)
    s = float(np.sum(A * m))
    assert not mc.exact
    assert abs(mc.value - (s ** 2 + np.sum(A ** 2 * (1 - m ** 2)))) < 5 * mc.value_se
    assert np.all(np.abs(mc.grad - (2 * s * A - 2 * A ** 2 * m)) < 5 * mc.grad_se + 1e-3)
    with pytest.raises(TypeError, match="Generator"):
        exact.q_expectation(quad, m)


def test_bp_is_exact_on_a_tree():
    # P = 1: one factor touching every visible unit is a tree, so BP (with exact factor messages) is exact.
    rng = np.random.default_rng(3)
    J = rng.normal(size=(12, 1)) * 0.8
    theta = np.array([[0.3]])
    r = bp.run_bp(J, theta, tol=1e-13, max_iter=500)
    st = bp.bp_statistics(J, theta, r.u)
    ex = exact.dual_moments(J, theta[0])
    assert r.converged.all()
    assert st.log_z[0] == pytest.approx(exact.dual_log_partition(J, theta[0]), abs=1e-10)
    np.testing.assert_allclose(st.sigma_h[0], ex["sigma_h"], atol=1e-10)
    np.testing.assert_allclose(st.h[0], ex["h"], atol=1e-10)
    np.testing.assert_allclose(st.sigma[0], ex["sigma"], atol=1e-10)


def _loopy_errors(N, amp, n_inst=6):
    errs = {"h": [], "sigma_h": [], "log_z": [], "double_counted_h": []}
    x, w = clt.gauss_hermite(60)
    for s in range(n_inst):
        rng = np.random.default_rng([N, s])
        J = np.where(rng.random((N, 2)) < 0.5, -amp, amp) / np.sqrt(N)
        theta = np.array([[0.8, -0.5]])
        r = bp.run_bp(J, theta, tol=1e-12, max_iter=2000)
        assert r.converged.all()
        st = bp.bp_statistics(J, theta, r.u)
        ex = exact.dual_moments(J, theta[0])
        errs["h"].append(np.abs(st.h[0] - ex["h"]).max())
        errs["sigma_h"].append(np.abs(st.sigma_h[0] - ex["sigma_h"]).max())
        errs["log_z"].append(abs(st.log_z[0] - exact.dual_log_partition(J, theta[0])))
        # Pitfall §8: hidden field from the FULL magnetisations plus a Gaussian of their variance.
        mi = st.sigma[0]
        G, L = mi @ J, np.sqrt((J ** 2 * (1 - mi[:, None] ** 2)).sum(0))
        naive = np.tanh(theta[0][:, None] + G[:, None] + L[:, None] * x) @ w
        errs["double_counted_h"].append(np.abs(naive - ex["h"]).max())
    return {k: float(np.mean(v)) for k, v in errs.items()}, {k: float(np.max(v)) for k, v in errs.items()}


def test_bp_on_the_loopy_dual_network_against_enumeration():
    # Dense graph, couplings ±amp/√N: BP misses loop corrections of relative size O(1/N). Measured at
    # amp = 0.757 (tanh 0.99), hidden fields (0.8, -0.5), 6 instances: mean |Δ<h_a>| 0.0089 (N = 8) ->
    # 0.0058 (N = 16); max |Δ<σ_i h_a>| <= 0.046; |Δ ln Z| <= 0.017. Tolerances: 1.5x the worst measured.
    mean8, worst8 = _loopy_errors(8, 0.757)
    mean16, worst16 = _loopy_errors(16, 0.757)
    assert mean16["h"] < mean8["h"]
    assert worst16["h"] < 0.04 and worst16["sigma_h"] < 0.03 and worst16["log_z"] < 0.025
    # The cavity form beats the double-counted one, whose error does not shrink with N (0.031 -> 0.036).
    assert mean16["double_counted_h"] > 3 * mean16["h"]
    assert mean16["double_counted_h"] >= 0.9 * mean8["double_counted_h"]
    # Weaker couplings (amp 0.5), further from the critical point Σ_i J_ia² = 1: errors ~4x smaller.
    _, weak = _loopy_errors(16, 0.5)
    assert weak["h"] < 0.01 and weak["sigma_h"] < 0.012 and weak["log_z"] < 0.006


def test_bethe_log_z_is_stationary_so_its_derivatives_are_the_beliefs():
    # At a BP fixed point ∂ln Z_Bethe/∂J_ia = <σ_i h_a> and ∂/∂θ_a = <h_a>. Central differences with BP
    # converged to 1e-14: truncation O(eps²) ~ 1e-12, cancellation ~1e-16/1e-6 = 1e-10 -> atol 1e-7.
    rng = np.random.default_rng(4)
    J, theta = rng.normal(size=(10, 3)) * 0.5, rng.normal(size=(2, 3)) * 0.5

    def stats(J, theta):
        return bp.bp_statistics(J, theta, bp.run_bp(J, theta, tol=1e-14, max_iter=5000, damping=0.3).u)

    st, eps = stats(J, theta), 1e-6
    for i, a in [(0, 0), (3, 1), (9, 2)]:
        E = np.zeros_like(J)
        E[i, a] = eps
        num = (stats(J + E, theta).log_z - stats(J - E, theta).log_z) / (2 * eps)
        np.testing.assert_allclose(st.sigma_h[:, i, a], num, atol=1e-7)
    for a in range(3):
        E = np.zeros_like(theta)
        E[:, a] = eps
        num = (stats(J, theta + E).log_z - stats(J, theta - E).log_z) / (2 * eps)
        np.testing.assert_allclose(st.h[:, a], num, atol=1e-7)


def test_partition_and_data_term_gradients_against_finite_differences():
    rng = np.random.default_rng(5)
    N, P, beta = 12, 3, 1.3
    m = rng.uniform(-0.9, 0.9, size=(N, P))
    z = rng.normal(size=(4, P))
    X = np.where(rng.random((20, N)) < 0.5, -1, 1)
    kw = dict(tol=1e-14, max_iter=5000)
    g_part = bp.partition_term(m, beta, z, **kw).grad
    # The data term's Ξ-part uses Stein's lemma, exact for the integral; with 160 Gauss-Hermite nodes the
    # quadrature matches the identity to ~1e-12 (with 32 nodes only to ~1e-4 at βΞ ≈ 1).
    g_data = clt.data_term(X, m, beta, n_quad=160)[1]
    eps = 1e-6
    for i, a in [(0, 0), (5, 1), (11, 2)]:
        E = np.zeros_like(m)
        E[i, a] = eps
        num = (bp.partition_term(m + E, beta, z, grad=False, **kw).value
               - bp.partition_term(m - E, beta, z, grad=False, **kw).value) / (2 * eps)
        assert g_part[i, a] == pytest.approx(num, abs=1e-7)
        num = (clt.data_term(X, m + E, beta, 160, grad=False)[0]
               - clt.data_term(X, m - E, beta, 160, grad=False)[0]) / (2 * eps)
        assert g_data[i, a] == pytest.approx(num, abs=1e-6)


def test_clt_data_term_approaches_the_exact_expectation():
    # E_q Σ_s ln 2cosh(β X_a) by enumeration of all 2^N weights of one hidden unit versus the Gaussian
    # approximation of X_a. The error is the non-Gaussianity of a sum of N independent ±1/√N terms, O(1/N):
    # measured per pattern (3 instances, m ~ U(-0.8, 0.8)): value 0.0090 (N = 4), 0.0043 (8), 0.0016 (16);
    # gradient 0.0073, 0.0016, 0.0009. Tolerance 1.5x measured; and the error must shrink with N.
    errs = {}
    for N in (4, 16):
        ev, eg = [], []
        for s in range(3):
            rng = np.random.default_rng([N, s, 1])
            m = rng.uniform(-0.8, 0.8, size=(N, 1))
            X = np.where(rng.random((10, N)) < 0.5, -1.0, 1.0)
            f = lambda Ws: log2cosh(np.einsum("sn,bnp->bsp", X, Ws) / np.sqrt(N)).sum(axis=(1, 2))
            ex = exact.q_expectation(f, m)
            value, grad = clt.data_term(X, m, 1.0, n_quad=96)
            ev.append(abs(ex.value - value) / 10)
            eg.append(np.abs(ex.grad - grad).max() / 10)
        errs[N] = (max(ev), max(eg))
    assert errs[16][0] < 0.0025 and errs[16][1] < 0.0015
    assert errs[16][0] < errs[4][0] / 3 and errs[16][1] < errs[4][1] / 3


@pytest.mark.parametrize("N,P", [(8, 2), (5, 3)])
def test_quenched_log_partition_versus_exact(N, P):
    # E_q ln Z(W) by enumerating all 2^(N·P) weight matrices. The quenched dual network (one shared Gaussian
    # field per hidden unit) sits BELOW it by about the Jensen gap Σ_a [β²Ξ_a²/2 - <ln cosh(βΞ_a z)>]: in the
    # paramagnetic phase the weight noise acts on each σ almost independently (annealed). Measured here:
    # exact - quenched = 0.180 vs gap 0.202 (N=8, P=2) and 0.245 vs 0.304 (N=5, P=3): the gap argument is a
    # large-N one and explains 80-90% of the deficit at these sizes, hence the band [0.7, 1.05] x gap. The
    # annealed form Σβ²Ξ²/2 + ln Z_dual(θ=0) (≈ ln E_q Z, so above E_q ln Z by Jensen) is above by 0.019
    # (N=8, P=2) and 0.058 (N=5, P=3): bound 0.025 per hidden unit. These bounds document the approximation
    # the seeds prescribe; they are not O(1/N) claims.
    rng = np.random.default_rng([N, P])
    m = rng.uniform(-0.5, 0.5, size=(N, P))
    ex = exact.q_expectation(lambda Ws: exact.log_partition(Ws, 1.0), m)
    xi = clt.field_std(m)
    z = np.random.default_rng(9).normal(size=(4000, P))       # MC over z: s.e. of the mean < 0.002
    quenched = bp.partition_term(m, 1.0, z, tol=1e-12, max_iter=2000)
    gap = float(np.sum(xi ** 2 / 2 - np.mean(log2cosh(xi * z) - np.log(2), axis=0)))
    assert 0.7 * gap < ex.value - quenched.value < 1.05 * gap + 0.01
    annealed = float(np.sum(xi ** 2) / 2 + exact.dual_log_partition(m / np.sqrt(N)))
    assert 0 < annealed - ex.value < 0.025 * P
    # BP's quenched value itself is close to the quenched value by enumeration (same z's, 300 of them).
    zs = z[:300]
    enum = np.mean([exact.dual_log_partition(m / np.sqrt(N), xi * zz) for zz in zs])
    assert bp.partition_term(m, 1.0, zs, tol=1e-12, max_iter=2000).value == pytest.approx(enum, abs=0.01)
