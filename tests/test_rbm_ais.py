"""AIS log-partition and log-likelihood (rbm/ais.py) against exact enumeration on tiny models.

Tolerance: with an effective sample size near the number of chains, ln Ẑ is close to normal around ln Z with the
standard deviation the estimator reports (``log_z_se``, delta method over the chains); its Jensen bias is about
se²/2, far below se. So |ln Ẑ - ln Z| <= 4 se has a two-sided false-alarm probability of about 6e-5 per case
(and the draws are seeded, so a pass is reproducible). To keep this from passing vacuously, every case also
requires a small reported error (se < 0.05 nats) and a healthy effective sample size (ESS > n/2).
"""
import numpy as np
import pytest

from lowprec_rbm.posterior import log2cosh
from lowprec_rbm.rbm import ais
from lowprec_rbm.rbm.exact import all_states, log_likelihood as exact_log_likelihood, log_partition

CASES = [(10, 3, 1.0, False), (12, 4, 2.0, False), (14, 5, 1.5, True), (16, 6, 3.0, True)]


def _model(N, P, beta, fields, seed=0):
    rng = np.random.default_rng(seed + 100 * N + P)
    W = np.where(rng.random((N, P)) < 0.5, -1, 1).astype(np.int8)
    b = rng.normal(0, 0.5, N) if fields else None
    c = rng.normal(0, 0.5, P) if fields else None
    return W, b, c


def _brute_log_z(J, b, c):
    """ln Σ_σ Σ_h exp(σᵀJh + b·σ + c·h): both layers enumerated (no analytic hidden sum)."""
    S = all_states(J.shape[0]).astype(float)
    H = all_states(J.shape[1]).astype(float)
    E = S @ J @ H.T + (S @ b)[:, None] + (H @ c)[None, :]
    top = E.max()
    return float(top + np.log(np.exp(E - top).sum()))


@pytest.mark.parametrize("N,P,beta,fields", CASES)
def test_log_partition_matches_enumeration(N, P, beta, fields):
    W, b, c = _model(N, P, beta, fields)
    J = ais.binary_couplings(W, beta)
    n = 100
    r = ais.ais_log_partition(J, visible_field=b, hidden_field=c, n_chains=n, n_temperatures=500, random_state=0)
    exact = _brute_log_z(J, np.zeros(N) if b is None else b, np.zeros(P) if c is None else c)
    if not fields:
        assert exact == pytest.approx(log_partition(W, beta), abs=1e-9)   # the two enumerations agree
    assert r.log_z_se < 0.05 and r.ess > n / 2, r
    assert abs(r.log_z - exact) <= 4 * r.log_z_se, (r.log_z, exact, r.log_z_se)
    assert r.log_weights.shape == (n,) and r.n_temperatures == 500


def test_base_field_changes_the_path_not_the_answer():
    """A base of independent units with the data's marginals (Salakhutdinov & Murray's) estimates the same ln Z."""
    W, b, c = _model(14, 5, 1.5, True)
    J = ais.binary_couplings(W, 1.5)
    X = all_states(14)[np.random.default_rng(2).choice(2 ** 14, 300, replace=False)]
    X[:, :3] = 1                                             # units always +1 in the data: finite base field
    a = ais.base_field_from_data(X)
    assert np.all(np.isfinite(a)) and np.all(a[:3] > 0)
    np.testing.assert_allclose(np.tanh(a[3:]), ((X[:, 3:] > 0).sum(0) + 1) / 302 * 2 - 1, rtol=1e-12)
    r = ais.ais_log_partition(J, visible_field=b, hidden_field=c, base_visible_field=a, n_temperatures=500,
                              random_state=0)
    exact = _brute_log_z(J, b, c)
    assert r.log_z_se < 0.05 and r.ess > 50
    assert abs(r.log_z - exact) <= 4 * r.log_z_se
    assert r.log_z0 == pytest.approx(5 * np.log(2) + np.sum(np.log(2 * np.cosh(a))), rel=1e-12)


@pytest.mark.parametrize("N,P,beta,fields", CASES[:2])
def test_per_sample_log_likelihood(N, P, beta, fields):
    W, b, c = _model(N, P, beta, fields)
    X = all_states(N)[np.random.default_rng(1).choice(2 ** N, 20, replace=False)]
    ll, r = ais.log_likelihood(X, W, beta=beta, visible_field=b, hidden_field=c, n_chains=100,
                               n_temperatures=500, random_state=3)
    exact = np.array([exact_log_likelihood(x[None], W, beta) for x in X])
    # every sample shares the one ln Ẑ error; the unnormalised part is exact (float64 rounding only)
    np.testing.assert_allclose(ll - ll[0], exact - exact[0], rtol=0, atol=1e-9)
    assert np.all(np.abs(ll - exact) <= 4 * r.log_z_se)
    # reuse of an estimate gives the same numbers without a new run
    again, r2 = ais.log_likelihood(X, W, beta=beta, log_z=r)
    np.testing.assert_array_equal(again, ll)
    assert r2 is r


def test_hidden_sum_is_exact():
    rng = np.random.default_rng(5)
    J, b, c = rng.normal(0, 0.7, (6, 3)), rng.normal(0, 0.5, 6), rng.normal(0, 0.5, 3)
    S = all_states(6)
    H = all_states(3).astype(float)
    E = S @ J @ H.T + (S @ b)[:, None] + (H @ c)[None, :]
    brute = np.log(np.exp(E).sum(axis=1))
    np.testing.assert_allclose(ais.unnormalized_log_prob(S, J, b, c), brute, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ais.unnormalized_log_prob(S, J), log2cosh(S @ J).sum(1), rtol=1e-12)


def test_same_seed_same_estimate_and_seed_matters():
    W, _, _ = _model(10, 3, 1.0, False)
    J = ais.binary_couplings(W, 1.0)
    a = ais.ais_log_partition(J, n_chains=10, n_temperatures=50, random_state=7)
    b = ais.ais_log_partition(J, n_chains=10, n_temperatures=50, random_state=np.random.default_rng(7))
    c = ais.ais_log_partition(J, n_chains=10, n_temperatures=50, random_state=8)
    np.testing.assert_array_equal(a.log_weights, b.log_weights)
    assert not np.array_equal(a.log_weights, c.log_weights)


def test_schedule_shape():
    t = ais.schedule(1000)
    assert len(t) == 1001 and t[0] == 0.0 and t[-1] == 1.0 and np.all(np.diff(t) > 0)
    assert np.sum(t > 0.9) == 600          # 60 % of the temperatures on (0.9, 1]
    assert np.sum(t <= 0.5) == 101         # t_0 = 0 and the 10 % on (0, 0.5]


def test_bernoulli_rbm_adapter_matches_enumeration():
    """A {0,1} RBM with real weights (scikit-learn's BernoulliRBM, really fitted) against enumerating v and h."""
    sk = pytest.importorskip("sklearn.neural_network")
    rng = np.random.default_rng(0)
    X = (rng.random((200, 12)) < 0.3).astype(float)
    m = sk.BernoulliRBM(n_components=4, n_iter=20, learning_rate=0.1, random_state=0).fit(X)
    V = (all_states(12) + 1) // 2
    H = (all_states(4) + 1) // 2
    E = V @ m.components_.T @ H.T + (V @ m.intercept_visible_)[:, None] + (H @ m.intercept_hidden_)[None, :]
    log_z = float(E.max() + np.log(np.exp(E - E.max()).sum()))
    ll, r = ais.bernoulli_log_likelihood(X[:10].astype(int), m.components_, m.intercept_visible_,
                                         m.intercept_hidden_, n_temperatures=500, random_state=0)
    _, _, _, offset = ais.from_bernoulli(m.components_, m.intercept_visible_, m.intercept_hidden_)
    assert r.log_z_se < 0.05 and r.ess > 50
    assert abs(r.log_z + offset - log_z) <= 4 * r.log_z_se
    rb = ais.bernoulli_log_likelihood(X[:10].astype(int), m.components_, m.intercept_visible_,
                                      m.intercept_hidden_, n_temperatures=500, base_data=X.astype(int),
                                      random_state=0)[1]
    assert rb.log_z_se < 0.05 and abs(rb.log_z + offset - log_z) <= 4 * rb.log_z_se
    # exact ln p(v): v·b_v + Σ_a softplus(W v + b_h) - ln Z
    free = X[:10] @ m.intercept_visible_ + np.logaddexp(0, X[:10] @ m.components_.T + m.intercept_hidden_).sum(1)
    assert np.all(np.abs(ll - (free - log_z)) <= 4 * r.log_z_se)
    np.testing.assert_allclose(ll - ll[0], (free - log_z) - (free[0] - log_z), atol=1e-9)


def test_bad_inputs():
    J = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"coupling must have shape \(N, P\)"):
        ais.ais_log_partition(np.zeros(4))
    with pytest.raises(ValueError, match=r"visible_field must have shape \(4,\)"):
        ais.ais_log_partition(J, visible_field=np.zeros(3))
    with pytest.raises(ValueError, match="n_chains must be >= 2"):
        ais.ais_log_partition(J, n_chains=1)
    with pytest.raises(TypeError, match="n_chains must be an int"):
        ais.ais_log_partition(J, n_chains=2.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        ais.ais_log_partition(J, temperatures=[0.0, 0.7, 0.5, 1.0])
    with pytest.raises(ValueError, match="only -1 and \\+1"):
        ais.binary_couplings(np.zeros((3, 2)), 1.0)
    with pytest.raises(ValueError, match="beta must be"):
        ais.binary_couplings(np.ones((3, 2)), 0.0)
    with pytest.raises(ValueError, match=r"X must have shape \(M, 4\)"):
        ais.unnormalized_log_prob(np.ones((2, 3)), J)
    with pytest.raises(ValueError, match="0/1 values"):
        ais.bernoulli_log_likelihood(np.full((2, 4), 2), np.zeros((2, 4)), np.zeros(4), np.zeros(2))
    with pytest.raises(ValueError, match=r"base_data must have shape \(M, 4\)"):
        ais.bernoulli_log_likelihood(np.zeros((2, 4)), np.zeros((2, 4)), np.zeros(4), np.zeros(2),
                                     base_data=np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"visible_field must have shape \(4,\)"):
        ais.ais_log_partition(J, base_visible_field=np.zeros(5))


def test_log_z_lower_bound_holds_with_the_stated_confidence_even_for_degenerate_runs():
    """Markov's inequality on the unbiased Ẑ: P(ln Ẑ - ln 20 > ln Z) <= 5 %, whatever the schedule. Checked on
    a model where 3 chains x 4 temperatures give a poor (high-variance) estimate, over 200 seeds: the bound may
    fail on at most 5 % of them in expectation, and 25 or more failures of 200 at a true rate <= 5 % has
    probability below 1e-4 (binomial tail), so the check fails only if the estimator is biased upward.
    It also requires the runs to be poor (some |ln Ẑ - ln Z| > 1), else it would test nothing new."""
    W, b, c = _model(14, 5, 1.5, True)
    J = ais.binary_couplings(W, 1.5)
    exact = _brute_log_z(J, b, c)
    runs = [ais.ais_log_partition(J, visible_field=b, hidden_field=c, n_chains=3, n_temperatures=4, random_state=s)
            for s in range(200)]
    assert max(abs(r.log_z - exact) for r in runs) > 1.0
    # the slack matters: the raw estimates exceed ln Z on a sizable share of runs, so a bound without the
    # ln 20 (or an estimator biased upward) fails the count below
    assert sum(r.log_z > exact for r in runs) >= 25
    failures = sum(r.log_z_lower_bound(0.05) > exact for r in runs)
    assert failures < 25, failures
    assert runs[0].log_z_lower_bound(0.05) == pytest.approx(runs[0].log_z - np.log(20.0), abs=1e-12)
    for bad in (0, 1, 1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="delta must be a probability"):
            runs[0].log_z_lower_bound(bad)
    for bad in (True, "0.05", None):
        with pytest.raises(TypeError, match="delta must be a float"):
            runs[0].log_z_lower_bound(bad)
