"""BP and the Bethe statistics stay finite and exact for large couplings (|J| up to 50).

Before: the float64 ratio-domain sweep computed G R = 1 + (G² - 1)/(1 + G V), which cancels to 0 for J << 0
(G² < 2^-53) and then divided by zero (NaN from |J| ≈ 18); the log-domain sweep and the beliefs used
arctanh(tanh x tanh J), which is ±inf once tanh x tanh J rounds to ±1 (|x|, |J| >~ 19 in float64)."""
from __future__ import annotations

import numpy as np
import pytest

from lowprec_rbm.rbm import bp, exact


def _tree(scale: float, seed: int):
    """N = 7 visible, P = 3 hidden on a chain-shaped tree: hidden a sees visible {2a, 2a+1, 2a+2}, neighbouring
    hidden units share one visible unit, every other coupling is 0 (an absent edge: its messages stay 0).
    Couplings of size U(0.5, 1)·scale with random signs, fields of comparable size."""
    rng = np.random.default_rng(seed)
    N, P = 7, 3
    J = np.zeros((N, P))
    for a in range(P):
        rows = [2 * a, 2 * a + 1, 2 * a + 2]
        J[rows, a] = scale * rng.choice([-1.0, 1.0], 3) * rng.uniform(0.5, 1.0, 3)
    theta = scale * rng.uniform(-0.5, 0.5, (1, P))
    phi = scale * rng.uniform(-0.5, 0.5, N)
    return J, theta, phi


@pytest.mark.parametrize("scale", [1.0, 20.0, 50.0])
@pytest.mark.parametrize("sweep", ["ratio", "log"])
def test_bp_is_finite_and_exact_on_a_tree_with_large_couplings(sweep, scale):
    J, theta, phi = _tree(scale, seed=int(scale))
    if sweep == "ratio":
        # float64 takes the ratio sweep while Σ|J| + |θ| + 2 max|J| <= 350 (true here up to scale 50)
        run = bp.run_bp(J, theta, field=phi, tol=1e-13, max_iter=200, damping=0.0, dtype=np.float64)
    else:
        run = bp._run_bp_log(J, theta, None, damping=0.0, tol=1e-13, max_iter=200, dtype=np.float64, phi=phi)
    assert np.all(np.isfinite(run.u)) and run.converged.all()
    st = bp.bp_statistics(J, theta, run.u, field=phi)
    ex = exact.dual_moments(J, theta[0], phi)
    log_z = exact.dual_log_partition(J, theta[0], phi)
    # A tree: the Bethe ln Z and the beliefs are exact. Rounding: each message carries a few ulp of 1 absolute
    # (bp._message) plus ulp(|x|) <= 2^-53·400 from sums of fields of size <= Σ|J| + |φ| ~ 400 at scale 50;
    # ln Z (~ 200) is a sum of ~30 terms of that size: 1e-10·max(1, |ln Z|) leaves a >10x margin.
    assert st.log_z[0] == pytest.approx(log_z, abs=1e-10 * max(1.0, abs(log_z)))
    # Moments are tanh of those fields: errors <= the field errors (derivative of tanh <= 1). <σ_i h_a> is a
    # factor belief: exact for the edges of the tree (J_ia != 0) only.
    np.testing.assert_allclose(st.sigma[0], ex["sigma"], atol=1e-10)
    np.testing.assert_allclose(st.h[0], ex["h"], atol=1e-10)
    edges = J != 0
    np.testing.assert_allclose(st.sigma_h[0][edges], ex["sigma_h"][edges], atol=1e-10)


def test_ratio_sweep_with_strongly_negative_couplings_is_finite():
    # The reported failure: one hidden unit (a tree), couplings -20..-30, float64 -> ratio sweep. The old form
    # 1 + (G² - 1)/(1 + G V) rounded to 0 and the sweep returned NaN.
    J = -np.array([[20.0], [25.0], [30.0], [22.0]])
    theta = np.array([[3.0]])
    run = bp.run_bp(J, theta, tol=1e-13, max_iter=200, damping=0.0, dtype=np.float64)
    assert np.all(np.isfinite(run.u)) and run.converged.all()
    st = bp.bp_statistics(J, theta, run.u)
    log_z = exact.dual_log_partition(J, theta[0])
    assert st.log_z[0] == pytest.approx(log_z, abs=1e-10 * abs(log_z))   # as the tree test above


def test_bethe_is_exact_up_to_exponentially_small_terms_on_a_pinned_loopy_model():
    # Dense N = 8, P = 3 (loopy) with |J| up to 50, visible fields |φ_i| = Σ_a |J_ia| + 10: flipping σ_i away
    # from sign(φ_i) costs 2|φ_i| and gains at most 2 Σ_a |J_ia| in the cosh factors, so every other visible
    # state has relative weight <= e^{-20} and the 2^8 - 1 of them together <= 255 e^{-20} ~ 5e-7: ln Z is the
    # pinned state's term up to 5e-7, and so is the Bethe ln Z (its beliefs pin σ the same way). Tolerance 1e-5.
    rng = np.random.default_rng(7)
    N, P = 8, 3
    J = 50.0 * rng.uniform(-1, 1, (N, P))
    theta = rng.uniform(-10, 10, (1, P))
    phi = rng.choice([-1.0, 1.0], N) * (np.abs(J).sum(axis=1) + 10.0)
    for dtype in (np.float64, np.float32):       # float64: log sweep (row sums > 350); float32: log sweep
        run = bp.run_bp(J, theta, field=phi, tol=1e-9 if dtype is np.float64 else 1e-5, max_iter=500,
                        damping=0.2, dtype=dtype)
        assert np.all(np.isfinite(run.u)) and run.converged.all()
        st = bp.bp_statistics(J, theta, run.u, field=phi)
        log_z = exact.dual_log_partition(J, theta[0], phi)
        # float32 messages carry ~ulp(400) ~ 3e-5 absolute, summed over 24 edges: 1e-3 for float32.
        assert st.log_z[0] == pytest.approx(log_z, abs=1e-5 if dtype is np.float64 else 1e-3)
        np.testing.assert_allclose(st.sigma[0], exact.dual_moments(J, theta[0], phi)["sigma"], atol=1e-5)


def test_stable_and_fast_beliefs_agree_where_both_apply():
    # |J| <= 1: the tanh-product beliefs (used there for speed) and the cosh-form ones are the same formulas;
    # both round to <= ~1e-15 per edge (bp._FAST_BELIEFS_MAX_J's comment), F sums N = 40 edges: 1e-12.
    rng = np.random.default_rng(3)
    N, P, K = 40, 5, 2
    J = rng.uniform(-1, 1, (N, P))
    theta = rng.normal(0, 2, (K, P))
    phi = rng.normal(0, 2, N)
    u = bp.run_bp(J, theta, field=phi, tol=1e-12, max_iter=3000, damping=0.5).u
    fast = bp._beliefs_fast(J, theta, u, phi)
    stable = bp._beliefs_stable(J, theta, u, phi)
    for name in ("h", "sigma", "sigma_h", "F"):
        np.testing.assert_allclose(getattr(stable, name), getattr(fast, name), rtol=0, atol=1e-12)
    np.testing.assert_allclose(bp._bethe_log_z(J, u, stable), bp._bethe_log_z(J, u, fast), rtol=0, atol=1e-10)


@pytest.mark.parametrize("x,J", [(0.3, 0.2), (-5.0, 0.7), (40.0, -30.0), (1e3, 2.0), (-2.0, 1e3), (0.0, 50.0)])
def test_message_function_matches_the_closed_form(x, J):
    # atanh(tanh x tanh J) = ½ ln[cosh(x+J)/cosh(x-J)]; reference in exact form with logaddexp (ln cosh y =
    # logaddexp(y, -y) - ln 2), accurate to a few ulp of max(|x|, |J|): tolerance 1e-12·max(1, |x|, |J|).
    ref = 0.5 * (np.logaddexp(x + J, -x - J) - np.logaddexp(x - J, J - x))
    got = bp._message(np.array([x]), np.array([J]))[0]
    assert got == pytest.approx(ref, abs=1e-12 * max(1.0, abs(x), abs(J)))
    assert abs(got) <= min(abs(x), abs(J)) + 1e-15         # |atanh(tanh x tanh J)| <= min(|x|, |J|)
