"""Visible and hidden fields (biases) of the binary-synapse RBM: BP, CLT and the model against exact enumeration,
gradients against finite differences, the field update, persistence and the dead/saturated unit report."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from lowprec_rbm.posterior_file import save_posterior
from lowprec_rbm.rbm import BinaryRBM, bp, clt, exact
from lowprec_rbm.rules.fields import field_natural_gradient

from numgrad import central


def _central(f, x, eps=1e-6):
    """Central differences at eps = 1e-6: error O(eps²·f''') + O(rounding/eps) ~ 1e-9 here."""
    return central(f, x, eps)


@pytest.mark.parametrize("sweep", ["ratio", "log", "legacy"])
def test_bp_with_visible_and_hidden_fields_is_exact_on_a_tree(sweep):
    # One hidden unit: the factor graph is a tree, so BP's fixed point and the Bethe ln Z are exact. Every sweep
    # (ratio domain, log domain, the kept legacy one) must carry the visible field φ and the hidden field θ.
    rng = np.random.default_rng(0)
    N = 9
    J = rng.normal(0, 0.4, (N, 1))
    theta = np.array([[0.7]])
    phi = rng.normal(0, 0.8, N)
    kw = dict(tol=1e-13, max_iter=500, damping=0.0, dtype=np.float64, field=phi)
    if sweep == "log":
        run = bp._run_bp_log(J, theta, None, damping=0.0, tol=1e-13, max_iter=500, dtype=np.float64, phi=phi)
    else:
        run = bp.run_bp(J, theta, legacy=sweep == "legacy", **kw)
    assert run.converged.all()
    st = bp.bp_statistics(J, theta, run.u, field=phi, legacy=sweep == "legacy")
    ex = exact.dual_moments(J, theta[0], phi)
    # Exact up to float64 rounding of sums of ~N terms of size <= 2 (1e-12 leaves a 1000x margin).
    assert st.log_z[0] == pytest.approx(exact.dual_log_partition(J, theta[0], phi), abs=1e-12)
    np.testing.assert_allclose(st.sigma[0], ex["sigma"], atol=1e-12)
    np.testing.assert_allclose(st.h[0], ex["h"], atol=1e-12)
    np.testing.assert_allclose(st.sigma_h[0], ex["sigma_h"], atol=1e-12)


def test_bp_with_fields_is_close_to_exact_on_a_loopy_weak_model():
    # P = 3 (loops), weak couplings: the Bethe approximation's error is O(J^4) per loop; measured 2.8e-3 nats in
    # ln Z and <1e-2 in the moments at this size (J ~ 0.3). Without the fields the error would be O(1).
    rng = np.random.default_rng(0)
    N, P = 10, 3
    J = rng.normal(0, 0.3, (N, P))
    theta = rng.normal(0, 0.5, (1, P))
    phi = rng.normal(0, 0.5, N)
    run = bp.run_bp(J, theta, field=phi, tol=1e-12, max_iter=1000)
    st = bp.bp_statistics(J, theta, run.u, field=phi)
    ex = exact.dual_moments(J, theta[0], phi)
    assert abs(st.log_z[0] - exact.dual_log_partition(J, theta[0], phi)) < 0.01
    assert np.abs(st.sigma[0] - ex["sigma"]).max() < 0.02
    assert np.abs(st.h[0] - ex["h"]).max() < 0.02
    # The fields matter: without them the visible means are far off (|<σ>| up to ~0.6 here).
    assert np.abs(ex["sigma"]).max() > 0.3


@pytest.mark.parametrize("kind", ["quenched", "annealed"])
def test_partition_term_gradients_with_fields_match_finite_differences(kind):
    # BP is run to a 1e-13 fixed point, so the Bethe ln Z's stationarity makes the belief averages its exact
    # derivatives; central differences (eps 1e-6) agree to ~1e-9 (tolerance 1e-7).
    rng = np.random.default_rng(1)
    N, P = 8, 3
    m = rng.uniform(-0.8, 0.8, (N, P))
    b, c = rng.normal(0, 0.3, N), rng.normal(0, 0.3, P)
    z = rng.standard_normal((2, P))
    u0 = rng.standard_normal((2, N, P)) * 0.3
    kw = dict(tol=1e-13, max_iter=3000, damping=0.3)

    def term(m=m, b=b, c=c, grad=False):
        if kind == "quenched":
            return bp.partition_term(m, 1.2, z, visible_field=b, hidden_field=c, grad=grad, **kw)
        return bp.annealed_partition_term(m, 1.2, u0, visible_field=b, hidden_field=c, grad=grad, **kw)

    t = term(grad=True)
    np.testing.assert_allclose(t.fields.grad_visible, _central(lambda x: term(b=x).value, b), atol=1e-7)
    np.testing.assert_allclose(t.fields.grad_hidden, _central(lambda x: term(c=x).value, c), atol=1e-7)
    np.testing.assert_allclose(t.grad, _central(lambda x: term(m=x).value, m), atol=1e-7)


def test_clt_data_term_with_fields_gradients_and_exact_value():
    rng = np.random.default_rng(2)
    N, P, beta = 7, 3, 1.3
    X = np.where(rng.random((11, N)) < 0.6, 1, -1)
    m = rng.uniform(-0.9, 0.9, (N, P))
    b, c = rng.normal(0, 0.4, N), rng.normal(0, 0.4, P)
    # 64 Gauss-Hermite nodes: quadrature error of the Ξ-derivative < 1e-8 here (32 nodes: 8e-6).
    d = clt.data_term_fields(X, m, beta, 64, visible_field=b, hidden_field=c)
    value = lambda m=m, b=b, c=c: clt.data_term_fields(X, m, beta, 64, grad=False, visible_field=b,  # noqa: E731
                                                       hidden_field=c).value
    np.testing.assert_allclose(d.grad_visible, _central(lambda x: value(b=x), b), atol=1e-7)
    np.testing.assert_allclose(d.grad_hidden, _central(lambda x: value(c=x), c), atol=1e-7)
    np.testing.assert_allclose(d.grad, _central(lambda x: value(m=x), m), atol=1e-6)
    # At m = ±1 (a point posterior) Ξ = 0 and the CLT is exact: the data term equals Σ_s ln p(σ^s|W) + M ln Z.
    W = np.where(rng.random((N, P)) < 0.5, 1.0, -1.0)
    v = clt.data_term_fields(X, W, beta, 8, grad=False, visible_field=b, hidden_field=c).value
    ll = exact.log_likelihood(X, W, beta, visible_field=b, hidden_field=c)
    lz = exact.log_partition(W, beta, visible_field=b, hidden_field=c)
    assert v == pytest.approx(ll + len(X) * lz, abs=1e-10)


def test_exact_enumeration_with_fields_is_a_normalised_distribution():
    # Σ_σ p(σ | W, b, c) = 1 and <σ_i h_a> from the dual moments equals the brute-force sum over (σ, h).
    rng = np.random.default_rng(3)
    N, P, beta = 5, 2, 0.9
    W = np.where(rng.random((N, P)) < 0.5, 1.0, -1.0)
    b, c = rng.normal(0, 0.5, N), rng.normal(0, 0.5, P)
    S = exact.all_states(N)
    lp = [exact.log_likelihood(s[None], W, beta, visible_field=b, hidden_field=c) for s in S]
    assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-12)
    H = exact.all_states(P).astype(float)
    E = beta * ((S @ W) @ H.T / np.sqrt(N) + (S @ b)[:, None] + (H @ c)[None, :])   # (2^N, 2^P)
    p = np.exp(E - E.max())
    p /= p.sum()
    brute = np.einsum("sk,si,ka->ia", p, S.astype(float), H)
    np.testing.assert_allclose(exact.correlations(W, beta, visible_field=b, hidden_field=c), brute, atol=1e-12)


def test_field_rule_is_a_newton_step_for_independent_units():
    # For independent ±1 units with field b, ∇ℓ = Mβ(d - tanh βb), and F = Mβ² (1 - tanh² + 1 - d²)/2. From the
    # fixed point b* = atanh(d)/β the step is 0; the iteration converges to b* (τ0 tiny) at ρ = 1 without
    # overshoot, whatever M (a plain gradient step of rate 1 would diverge for M = 1e5).
    M, beta = 100_000, 1.5
    d = np.array([-0.9, -0.2, 0.0, 0.5, 0.97])
    rule = field_natural_gradient(1.0, 1e-8)
    b = np.zeros_like(d)
    state = rule.init(b)
    for _ in range(30):
        m = np.tanh(beta * b)
        grad = M * beta * (d - m)
        fisher = M * beta ** 2 * ((1 - m ** 2) + (1 - d ** 2)) / 2
        b, state = rule.update(grad, fisher, state, b)
    np.testing.assert_allclose(b, np.arctanh(d) / beta, atol=1e-6)
    with pytest.raises(ValueError, match="prior_precision must be > 0"):
        field_natural_gradient(0.5, 0.0)


def _gibbs(W, b, c, beta, n, rng, sweeps=30):
    N, P = W.shape
    v = np.where(rng.random((n, N)) < 0.5, 1.0, -1.0)
    for _ in range(sweeps):
        h = np.where(rng.random((n, P)) < 0.5 * (1 + np.tanh(beta * (v @ W / np.sqrt(N) + c))), 1.0, -1.0)
        v = np.where(rng.random((n, N)) < 0.5 * (1 + np.tanh(beta * (h @ W.T / np.sqrt(N) + b))), 1.0, -1.0)
    return v.astype(np.int8)


def test_learned_fields_fit_the_data_better_than_no_fields():
    # Data from a teacher with fields (N = 8, P = 2, exact enumeration possible). The trained model's MAP weights
    # with its learned fields give a higher exact log-likelihood and visible means closer to the data than the
    # same training without fields (measured: -4.31 vs -5.10 nats/pattern, the teacher -4.10; max |Δ<σ>| 0.06 vs
    # 0.76).
    rng = np.random.default_rng(4)
    N, P, beta = 8, 2, 1.0
    W = np.where(rng.random((N, P)) < 0.5, 1.0, -1.0)
    b = np.array([1.0, -1.0, 0.8, -0.6, 0.0, 0.5, -1.2, 0.9])
    c = np.array([0.8, -0.5])
    X = _gibbs(W, b, c, beta, 4000, rng)
    fits = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for on in (True, False):
            fits[on] = BinaryRBM(n_hidden=P, epochs=60, learning_rate=0.05, random_state=0, visible_fields=on,
                                 hidden_fields=on).fit(X)
    ll, err = {}, {}
    for on, model in fits.items():
        vf, hf = model.fields_()
        Wm = model.posterior_.map().astype(float)
        ll[on] = exact.log_likelihood(X, Wm, beta, visible_field=vf, hidden_field=hf) / len(X)
        mom = exact.dual_moments(beta * Wm / np.sqrt(N), None if hf is None else beta * hf,
                                 None if vf is None else beta * vf)
        err[on] = np.abs(mom["sigma"] - X.mean(axis=0)).max()
    assert fits[False].visible_field_ is None and fits[True].visible_field_.shape == (N,)
    assert ll[True] > ll[False] + 0.2
    assert err[True] < 0.1 < err[False]


def test_fields_round_trip_through_the_posterior_file_and_old_files_load(tmp_path):
    rng = np.random.default_rng(5)
    X = np.where(rng.random((50, 12)) < 0.3, 1, -1).astype(np.int8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model = BinaryRBM(n_hidden=3, epochs=2, random_state=1, hidden_fields=False).fit(X)
    assert model.hidden_field_ is None and np.abs(model.visible_field_).max() > 0
    model.save(tmp_path / "a.npz")
    back = BinaryRBM.load(tmp_path / "a.npz")
    np.testing.assert_array_equal(back.visible_field_, model.visible_field_)
    assert back.hidden_field_ is None and back.visible_fields and not back.hidden_fields
    assert back.lower_bound(X) == pytest.approx(model.history_[-1]["lower_bound"], rel=1e-6)
    # A file written before fields existed: only 'lam', no field flags in its config -> a fieldless model.
    save_posterior(tmp_path / "old.npz", {"lam": model.posterior_.lam},
                   {"kind": "rbm", "config": {"n_hidden": 3, "beta": 1.0}})
    old = BinaryRBM.load(tmp_path / "old.npz")
    assert old.fields_() == (None, None) and not old.visible_fields and not old.hidden_fields
    save_posterior(tmp_path / "bad.npz", {"lam": model.posterior_.lam, "hidden_field": np.zeros(4)}, {"kind": "rbm"})
    with pytest.raises(ValueError, match=r"'hidden_field' must have shape \(3,\), got \(4,\)"):
        BinaryRBM.load(tmp_path / "bad.npz")


def test_dead_and_saturated_hidden_units_are_counted_from_map_bits(tmp_path):
    rng = np.random.default_rng(6)
    N, P = 16, 4
    lam = rng.normal(0, 1, (N, P))
    X = np.where(rng.random((40, N)) < 0.5, 1, -1).astype(np.int8)
    # |Σ σ ξ|/√N <= √N = 4, so a hidden field of -5 silences a unit and +5 keeps it on for every pattern.
    save_posterior(tmp_path / "m.npz", {"lam": lam, "hidden_field": np.array([-5.0, 0.0, 5.0, 4.5])},
                   {"kind": "rbm", "config": {"n_hidden": P}})
    model = BinaryRBM.load(tmp_path / "m.npz")
    act = model.hidden_activity(X)
    assert (act["dead_units"], act["saturated_units"], act["dead"], act["saturated"]) == (1, 2, [0], [2, 3])
    bits = model.hidden_map_bits(X)
    x = X @ np.where(lam >= 0, 1, -1) / 4.0
    np.testing.assert_array_equal(bits[:, 1], np.where(x[:, 1] >= 0, 1, -1))
    assert act["firing_rate"][1] == pytest.approx(np.mean(x[:, 1] >= 0))
