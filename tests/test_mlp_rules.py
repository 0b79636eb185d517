"""BayesBiNN, STE, Adam and ternary-VI rules: closed forms, Monte Carlo identities, float32 quirks."""
import math

import numpy as np
import pytest

from lowprec_rbm.nn.pfp import dense_moments, sign_moments
from lowprec_rbm.rules import apply_updates
from lowprec_rbm.rules import bayesbinn as bb
from lowprec_rbm.rules import ste as ste_rule
from lowprec_rbm.rules import ternary_vi as tvi


# ----------------------------------------------------------------------------------------------- BayesBiNN
def test_sign_of_noisy_lambda_has_mean_tanh():
    """sign(λ + δ), δ = ½ log(ε/(1−ε)), is ±1 with mean tanh λ.

    n = 200,000 draws per λ: the standard error of the sample mean is sqrt((1 − tanh²λ)/n) <= 2.3e-3;
    the tolerance is 5 standard errors (a false failure has probability ~6e-7 per value).
    """
    lam = np.array([-3.0, -1.0, -0.2, 0.0, 0.5, 2.0], dtype=np.float32)
    n = 200_000
    samples, _ = bb.relaxed_sample([np.broadcast_to(lam, (n, lam.size)).copy()], np.random.default_rng(0),
                                   tau=1e-10)
    w = samples[0]
    assert set(np.unique(w)) <= {-1.0, 1.0}
    se = np.sqrt((1 - np.tanh(lam.astype(np.float64)) ** 2) / n)
    np.testing.assert_array_less(np.abs(w.mean(axis=0) - np.tanh(lam)), 5 * se + 1e-12)


def test_expected_scale_is_the_limit_of_the_published_scale():
    """E_δ[(1 − tanh²((λ+δ)/τ))/τ] → 1 − tanh²λ as τ → 0 (δ has density ½ sech² t).

    Quadrature on a grid fine enough to resolve width τ: the integrand is smooth on that scale, so the
    trapezoid error is O(h²) with h = τ/200; the remaining difference is the O(τ²) smoothing bias
    (the convolution of sech²λ with a kernel of width τ), below 1e-3 relative at τ = 0.01.
    """
    tau = 0.01
    for lam in (-2.0, -0.3, 0.0, 0.7, 3.0):
        t = np.linspace(-lam - 40 * tau, -lam + 40 * tau, 16001)
        dens = 0.5 / np.cosh(t) ** 2
        scale = (1 / np.cosh((lam + t) / tau) ** 2) / tau
        integral = np.trapezoid(dens * scale, t)
        assert integral == pytest.approx(1 - np.tanh(lam) ** 2, rel=1e-3)


def test_blr_converges_to_the_exact_posterior_of_a_linear_likelihood():
    """For a loss linear in w, ℓ_n(w) = −c·w, the exact posterior is q(w) ∝ p0(w) e^{N c w}, i.e.
    λ* = λ0 + N c. The expected-scale step (kl_weight 1, no momentum) is λ <- (1 − α) λ + α λ*, so
    λ_t = λ* + (1 − α)^t (λ_init − λ*) in closed form, whatever the samples."""
    rng = np.random.default_rng(3)
    c = rng.uniform(-1e-3, 1e-3, size=(4, 5)).astype(np.float32)
    lam0 = rng.uniform(-0.5, 0.5, size=(4, 5)).astype(np.float32)
    n_data, alpha = 1000, 0.05
    lam = bb.init_lambda([(4, 5)], rng, lam_init=2.0)
    start = lam[0].astype(np.float64)
    rule = bb.bayesbinn(alpha, lam0=[lam0])
    state = rule.init(lam)
    est = bb.estimator_init(lam, "expected")
    for _ in range(60):
        w, _ = bb.relaxed_sample(lam, rng, tau=1e-10)
        g, est = bb.mean_gradient([[-c]], [w], lam, est, tau=1e-10, n_data=n_data)   # batch-mean loss grad −c
        upd, state = rule.update(g, state, lam)
        lam = apply_updates(lam, upd)
    target = lam0.astype(np.float64) + n_data * c.astype(np.float64)
    expect = target + (1 - alpha) ** 60 * (start - target)
    # float32 accumulation over 60 steps of O(1) numbers: error ~ 60 * 6e-8 * |λ| < 1e-5.
    np.testing.assert_allclose(lam[0], expect, rtol=0, atol=2e-5)


def test_momentum_with_bias_correction_two_steps():
    lam = [np.array([0.5, -1.0], dtype=np.float32)]
    d1 = [np.array([0.2, 0.4], dtype=np.float32)]
    d2 = [np.array([-0.6, 0.1], dtype=np.float32)]
    alpha, beta, r = 0.1, 0.9, 0.5
    rule = bb.bayesbinn(alpha, lam0=0.0, momentum=beta, kl_weight=r)
    state = rule.init(lam)
    u, state = rule.update(d1, state, lam)
    lam1 = apply_updates(lam, u)
    u, state = rule.update(d2, state, lam1)
    lam2 = apply_updates(lam1, u)
    l0 = lam[0].astype(np.float64)
    v1 = (1 - beta) * (d1[0] - r * l0)
    e1 = l0 + alpha * v1 / (1 - beta)
    v2 = beta * v1 + (1 - beta) * (d2[0] - r * e1)
    e2 = e1 + alpha * v2 / (1 - beta ** 2)
    np.testing.assert_allclose(lam2[0], e2, rtol=1e-6)


def test_published_estimator_saturates_in_float32():
    """The published scale (1 − w² + 1e-10)/τ/(1 − μ² + 1e-10) with λ = ±10 in float32 is N·1e10: one step
    throws |λ| to ~1e7 (issue 6's observation); the expected-scale estimator keeps λ at its O(1) scale."""
    rng = np.random.default_rng(0)
    lam = bb.init_lambda([(50, 40)], rng, lam_init=10.0)
    assert np.all(np.tanh(lam[0]) ** 2 == 1.0)          # float32 tanh(10) rounds to 1
    g = [rng.standard_normal((50, 40)).astype(np.float32) * 1e-4]
    out = {}
    for est in ("published", "expected"):
        state = bb.estimator_init(lam, est)
        w, _ = bb.relaxed_sample(lam, np.random.default_rng(1), tau=1e-10)
        ghat, state = bb.mean_gradient([g], [w], lam, state, tau=1e-10, n_data=54000, estimator=est)
        rule = bb.bayesbinn(1e-4)
        u, _ = rule.update(ghat, rule.init(lam), lam)
        out[est] = apply_updates(lam, u)[0]
    assert np.median(np.abs(out["published"])) > 1e5
    assert np.max(np.abs(out["expected"])) < 11.0


def test_published_estimator_mu_lags_one_step():
    lam0 = [np.array([0.3], dtype=np.float32)]
    state = bb.estimator_init(lam0, "published")
    np.testing.assert_array_equal(state.mu[0], np.tanh(lam0[0]))
    lam1 = [np.array([0.9], dtype=np.float32)]
    g = [np.array([1.0], dtype=np.float32)]
    w = [np.array([0.5], dtype=np.float32)]
    _, state = bb.mean_gradient([g], [w], lam0, state, tau=1.0, n_data=1, estimator="published")
    out, state = bb.mean_gradient([g], [w], lam1, state, tau=1.0, n_data=1, estimator="published")
    # Second step uses μ = tanh(λ0) (not tanh(λ1)): s = (1 − 0.25 + 1e-10) / (1 − tanh²(0.3) + 1e-10).
    s = np.float32(0.75 + 1e-10) / np.float32(1 - np.tanh(np.float32(0.3)) ** 2 + 1e-10)
    np.testing.assert_allclose(out[0], -s, rtol=1e-6)


def test_relaxed_estimator_matches_naive_formula_where_accurate():
    rng = np.random.default_rng(5)
    lam = [rng.uniform(-2, 2, size=(30,)).astype(np.float32)]
    tau = 0.5
    w, x = bb.relaxed_sample(lam, rng, tau, keep_logits=True)
    g = [np.ones(30, dtype=np.float32)]
    out, _ = bb.mean_gradient([g], [w], lam, bb.estimator_init(lam, "relaxed"), tau=tau, n_data=1,
                              estimator="relaxed", logits=[x])
    l64, x64 = lam[0].astype(np.float64), x[0].astype(np.float64)
    naive = (1 - np.tanh(x64) ** 2) / tau / (1 - np.tanh(l64) ** 2)
    ok = np.abs(x64) < 8      # away from float rounding of tanh² to 1
    np.testing.assert_allclose(-out[0][ok], naive[ok], rtol=1e-4)


def test_bayesbinn_bad_inputs():
    with pytest.raises(ValueError, match="estimator"):
        bb.estimator_init([np.zeros(3, np.float32)], "nope")
    with pytest.raises(ValueError, match="tau"):
        bb.relaxed_sample([np.zeros(3, np.float32)], np.random.default_rng(0), tau=0.0)
    with pytest.raises(TypeError, match="Generator"):
        bb.init_lambda([(2, 2)], 0)
    with pytest.raises(ValueError, match="momentum"):
        bb.bayesbinn(0.1, momentum=1.0)
    with pytest.raises(ValueError, match="logits"):
        lam = [np.zeros(3, np.float32)]
        bb.mean_gradient([lam], [lam], lam, bb.estimator_init(lam, "relaxed"), tau=1.0, n_data=1,
                         estimator="relaxed")


# --------------------------------------------------------------------------------------------- STE / Adam
def test_ste_clips_latent_weights():
    p = [np.array([0.95, -0.5, 0.0], dtype=np.float32)]
    rule = ste_rule.ste(learning_rate=0.2)
    u, _ = rule.update([np.array([1.0, -1.0, 1.0], dtype=np.float32)], rule.init(p), p)
    new = apply_updates(p, u)[0]
    # Adam's first step is lr·sign(g) (up to eps): 0.95 + 0.2 clips to 1, −0.5 − 0.2 = −0.7, 0 + 0.2.
    np.testing.assert_allclose(new, [1.0, -0.7, 0.2], rtol=1e-5)
    np.testing.assert_array_equal(ste_rule.binarize_latent(np.array([0.0, -1e-9, 2.0])), [1, -1, 1])


# ------------------------------------------------------------------------------------------------ ternary
def test_ternary_kl_closed_form_against_direct_sum():
    """Closed form Σ q ln q − Σ [ln((1−p0)/2) + q0 ln(2p0/(1−p0))] (the prior's form in Roth et al.'s code)
    against the direct sum Σ_d q_d ln(q_d / p_d) over the three values."""
    rng = np.random.default_rng(2)
    planes = rng.standard_normal((3, 6, 7))
    for p0 in (0.1, 1 / 3, 0.5, 0.9):
        q = np.exp(planes) / np.exp(planes).sum(axis=0)
        p = np.array([(1 - p0) / 2, p0, (1 - p0) / 2])
        direct = sum(float(np.sum(q[d] * np.log(q[d] / p[d]))) for d in range(3))
        closed = float(np.sum(q * np.log(q)) - np.sum(np.log((1 - p0) / 2) + q[1] * np.log(2 * p0 / (1 - p0))))
        assert tvi.kl(planes, p0) == pytest.approx(direct, rel=1e-12)
        assert closed == pytest.approx(direct, rel=1e-12)
    prior_logits = np.log(np.array([0.2, 0.6, 0.2]))[:, None]
    assert tvi.kl(prior_logits, 0.6) == pytest.approx(0.0, abs=1e-15)


def test_ternary_moments_and_most_probable():
    planes = np.log(np.array([[0.2, 0.7, 0.1], [0.5, 0.2, 0.1], [0.3, 0.1, 0.8]]))  # columns are weights
    q, mu, var = tvi.moments(planes)
    np.testing.assert_allclose(mu, [0.1, -0.6, 0.7])
    np.testing.assert_allclose(var, q[0] + q[2] - mu ** 2)
    # The variance by definition: Σ_d q_d (d − μ)².
    vals = np.array([-1.0, 0.0, 1.0])[:, None]
    np.testing.assert_allclose(var, np.sum(q * (vals - mu) ** 2, axis=0))
    np.testing.assert_array_equal(tvi.most_probable(planes), [0, -1, 1])
    # Ties go to 0, then +1, then −1.
    np.testing.assert_array_equal(tvi.most_probable(np.zeros((3, 1))), [0])
    np.testing.assert_array_equal(tvi.most_probable(np.array([[1.0], [0.0], [1.0]])), [1])
    file = tvi.to_file_layout(planes.astype(np.float32)[:, None, :])
    assert file.shape == (1, 3, 3)
    np.testing.assert_array_equal(tvi.from_file_layout(file), planes.astype(np.float32)[:, None, :])


def test_ternary_sampling_frequencies():
    """Frequencies of n = 100,000 draws vs q: SE sqrt(q(1−q)/n) <= 1.6e-3; tolerance 5 SE."""
    planes = np.log(np.array([[0.2], [0.5], [0.3]]))
    n = 100_000
    w = tvi.sample(planes, np.random.default_rng(4), size=n)[:, 0]
    for v, p in zip((-1, 0, 1), (0.2, 0.5, 0.3)):
        assert abs(np.mean(w == v) - p) < 5 * math.sqrt(p * (1 - p) / n)


def test_pfp_moments_against_monte_carlo():
    """Dense moments are exact for independent weights; checked against S = 20,000 sampled ternary layers.

    Mean: SE = σ_a / sqrt(S); tolerance 5 SE. Variance: the sample variance has SE ≈ σ² sqrt(2/S) for
    near-Gaussian sums (fan-in 300, kurtosis close to 3); tolerance 6 SE. The sign of the Gaussian
    approximation is then compared to the Monte Carlo mean of sign(a): its error is the CLT error, bounded by
    Berry–Esseen (|P(a >= 0) − Φ| <= 0.56 Σ E|X_j − EX_j|³ / σ³ for independent summands), so the tolerance is
    2 × that bound + 5 MC standard errors.
    """
    rng = np.random.default_rng(11)
    n_in, n_out, s = 300, 4, 20_000
    planes = rng.standard_normal((3, n_out, n_in)) * 1.5
    q, mu_w, var_w = tvi.moments(planes)
    x = rng.uniform(-1, 1, size=(1, n_in))
    mu_a, var_a = dense_moments(x, None, mu_w, var_w)
    w = tvi.sample(planes, rng, size=s).astype(np.float64)       # (S, out, in)
    a = np.einsum("soi,i->so", w, x[0])
    sd = np.sqrt(var_a[0])
    assert np.all(np.abs(a.mean(axis=0) - mu_a[0]) < 5 * sd / np.sqrt(s))
    assert np.all(np.abs(a.var(axis=0) - var_a[0]) < 6 * var_a[0] * np.sqrt(2 / s))
    m_sign, v_sign = sign_moments(mu_a, var_a)
    mc = np.where(a >= 0, 1.0, -1.0).mean(axis=0)
    vals = np.array([-1.0, 0.0, 1.0])[:, None, None]
    third = np.sum(q * np.abs(vals * x[0] - (mu_w * x[0])) ** 3, axis=(0, 2))     # Σ_j E|X_j − EX_j|³
    be = 0.56 * third / var_a[0] ** 1.5
    tol = 2 * be + 5 / np.sqrt(s)
    assert np.all(np.abs(mc - m_sign[0]) < tol)
    np.testing.assert_allclose(v_sign, 1 - m_sign ** 2)


def test_pfp_second_layer_moments_against_monte_carlo():
    """Second-layer moments with ±1 inputs of known means (independent): the fused variance formula
    Σ E[w²] − μ_x² μ_w² equals the general one and matches Monte Carlo (tolerances as above)."""
    rng = np.random.default_rng(12)
    n_in, n_out, s = 200, 3, 20_000
    planes = rng.standard_normal((3, n_out, n_in))
    _, mu_w, var_w = tvi.moments(planes)
    mu_x = rng.uniform(-0.9, 0.9, size=(1, n_in))
    m1, v1 = dense_moments(mu_x, 1 - mu_x ** 2, mu_w, var_w)
    m2, v2 = dense_moments(mu_x, None, mu_w, var_w, sign_input=True)
    np.testing.assert_allclose(m1, m2)
    np.testing.assert_allclose(v1, v2, rtol=1e-10)
    w = tvi.sample(planes, rng, size=s).astype(np.float64)
    x = np.where(rng.random((s, n_in)) < (1 + mu_x) / 2, 1.0, -1.0)
    a = np.einsum("soi,si->so", w, x)
    assert np.all(np.abs(a.mean(axis=0) - m1[0]) < 5 * np.sqrt(v1[0] / s))
    assert np.all(np.abs(a.var(axis=0) - v1[0]) < 6 * v1[0] * np.sqrt(2 / s))
