"""The fast E-step arithmetic against the previous implementation (legacy=True) and numpy's functions.

Tolerances are in ulps of the reference value (np.spacing) where a formula replaces a library function, and
are derived from the rounding of the ratio-domain sweep where whole BP runs are compared.
"""
import numpy as np
import pytest

from lowprec_rbm import vecmath
from lowprec_rbm.rbm import bp, clt


def _ulps(new, ref):
    """|new - ref| in units of the spacing of ref (both in ref's dtype); equal infinities and NaNs count 0."""
    new, ref = np.asarray(new), np.asarray(ref)
    assert new.dtype == ref.dtype
    same = (new == ref) | (np.isnan(new) & np.isnan(ref))
    diff = np.abs(new.astype(np.float64) - ref.astype(np.float64)) / np.spacing(np.abs(ref)).astype(np.float64)
    return np.where(same, 0.0, diff)


def _grid(rng, dtype, lo_exp, hi_exp, n=200_000):
    """Uniform values plus log-spaced magnitudes 10^lo_exp .. 10^hi_exp of both signs, in dtype."""
    mags = 10.0 ** rng.uniform(lo_exp, hi_exp, n)
    return np.concatenate([rng.uniform(-1, 1, n), mags, -mags]).astype(dtype)


# Error budgets (ulps of the result). numpy's float32 log on the SIMD path is <= ~3 ulp and its arctanh/log1p
# <= 2 (measured <= 2 and <= 1). Our arctanh: quotient 2|x|/(1-|x|) <= 1 ulp (1 - |x| exact for |x| >= 1/2,
# else <= 1/2 ulp, doubling exact), log1p's first-order correction leaves <= 1/2 ulp + the log's error, and
# log1p maps a relative input error to <= the same relative output error: <= 4 ulp against exact (measured
# 4 in float32, 2 in float64), so <= 6 from numpy's. log 2cosh: rounding 1 + e^{-2|x|} in (1, 2] moves the log
# by <= 2^-p absolute = <= 1 ulp of a result >= ln 2, plus the log's and the final addition's: <= 3 ulp each
# against exact, so <= 5 between old and new formula.
ULP = {np.float32: {"arctanh": 6, "log1p": 6, "log2cosh": 5}, np.float64: {"arctanh": 4, "log1p": 4, "log2cosh": 5}}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_arctanh_matches_numpy_over_the_whole_range(dtype):
    rng = np.random.default_rng(0)
    x = _grid(rng, dtype, -45 if dtype == np.float32 else -320, 0)
    near_one = (1 - 10.0 ** rng.uniform(-16, -1, 50_000)).astype(dtype)
    x = np.concatenate([x[np.abs(x) < 1], near_one, -near_one, np.nextafter(dtype(1), dtype(0), dtype=dtype)[None]])
    x = x[np.abs(x) < 1]
    assert _ulps(vecmath.arctanh(x), np.arctanh(x)).max() <= ULP[dtype]["arctanh"]
    edges = np.array([0.0, -0.0, 1.0, -1.0, 1.5, -2.0, np.inf, np.nan], dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        got, want = vecmath.arctanh(edges), np.arctanh(edges)
    np.testing.assert_array_equal(got, want)                  # ±inf at ±1, NaN outside, exact zeros
    np.testing.assert_array_equal(np.signbit(got[:2]), [False, True])
    tiny = np.array([np.finfo(dtype).smallest_subnormal, np.finfo(dtype).tiny, 1e-30], dtype)
    np.testing.assert_array_equal(vecmath.arctanh(tiny), tiny)   # arctanh x = x below an ulp
    out = x.copy()
    assert vecmath.arctanh(out, out=out) is out and _ulps(out, np.arctanh(x)).max() <= ULP[dtype]["arctanh"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log1p_matches_numpy_over_the_whole_range(dtype):
    rng = np.random.default_rng(1)
    y = np.concatenate([_grid(rng, dtype, -40, 30), (-1 + 10.0 ** rng.uniform(-7, 0, 50_000)).astype(dtype)])
    y = y[y > -1]
    assert _ulps(vecmath.log1p(y), np.log1p(y)).max() <= ULP[dtype]["log1p"]
    edges = np.array([0.0, -0.0, -1.0, -2.0, np.inf, -np.inf, np.nan, np.finfo(dtype).max], dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_array_equal(vecmath.log1p(edges), np.log1p(edges))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log2cosh_matches_the_previous_formula(dtype):
    rng = np.random.default_rng(2)
    x = _grid(rng, dtype, -40, 37 if dtype == np.float32 else 300)
    old = lambda v: np.abs(v) + np.log1p(np.exp(-2 * np.abs(v)))
    assert vecmath.log2cosh(x).dtype == dtype
    assert _ulps(vecmath.log2cosh(x), old(x)).max() <= ULP[dtype]["log2cosh"]
    edges = np.array([0.0, np.inf, -np.inf, np.nan, np.finfo(dtype).max], dtype)
    with np.errstate(over="ignore"):                              # -2·max overflows to -inf in both
        np.testing.assert_array_equal(vecmath.log2cosh(edges), old(edges))


def _instance(N=300, P=40, K=4, seed=0, beta=1.0):
    rng = np.random.default_rng(seed)
    J = beta * rng.uniform(-1, 1, (N, P)) / np.sqrt(N)
    return J, rng.normal(size=(K, P)) * 0.8


def test_ratio_domain_bp_reaches_the_same_fixed_point_in_float64():
    J, theta = _instance()
    ref = bp.run_bp(J, theta, tol=1e-13, max_iter=3000, damping=0.2, legacy=True)
    new = bp.run_bp(J, theta, tol=1e-13, max_iter=3000, damping=0.2)
    assert ref.converged.all() and new.converged.all()
    # Same equations, so the same contraction: iteration counts agree up to the last sweep's rounding.
    assert abs(new.iterations - ref.iterations) <= 1
    # Each run stops within tol·κ/(1-κ) of the fixed point (κ ≈ 0.3 measured here) plus rounding
    # (a few 2^-53 per sweep): 1e-13 covers both.
    np.testing.assert_allclose(new.u, ref.u, rtol=0, atol=1e-13)


def test_ratio_domain_bp_in_float32_is_as_accurate_as_before():
    J, theta = _instance(seed=1)
    exact = bp.run_bp(J, theta, tol=1e-14, max_iter=3000, damping=0.2, legacy=True).u
    new = bp.run_bp(J, theta, tol=1e-6, damping=0.2, dtype=np.float32)
    old = bp.run_bp(J, theta, tol=1e-6, damping=0.2, dtype=np.float32, legacy=True)
    assert new.iterations == old.iterations and new.converged.all()
    err_new, err_old = np.abs(new.u - exact).max(), np.abs(old.u - exact).max()
    # Both stop at a last step <= tol = 1e-6; the distance to the fixed point is dominated by that, not by
    # rounding (float32 messages carry ~1e-7 absolute: every ratio is rounded to 2^-24 relative, which is
    # 2^-25 absolute on u = ½ ln ratio). Measured: 1.9e-7 (new) and 1.7e-7 (old).
    assert err_new < 1e-6 and err_new <= 1.5 * err_old + 1e-7
    # Started at the fixed point the sweep stops at once, displaced by rounding only: ≈ 8e-8 for the
    # ratio form (bound above), ≈ 9e-9 for the tanh/arctanh form.
    warm = bp.run_bp(J, theta, exact, tol=1e-6, damping=0.2, dtype=np.float32)
    assert warm.iterations == 1 and np.abs(warm.u - exact).max() < 2e-7


def test_ratio_domain_handles_products_beyond_the_float_range():
    # One hidden unit with all N couplings positive: Π_i G R reaches e^{4 Σ_i J} = e^{4 √N β} = e^{113} at
    # N = 784, beyond float32; the product is taken in blocks. Compare with the previous sweep.
    N, P = 784, 3
    rng = np.random.default_rng(2)
    J = np.concatenate([np.full((N, 1), 1.0), rng.uniform(-1, 1, (N, P - 1))], axis=1) / np.sqrt(N)
    theta = np.array([[0.5, -0.2, 0.1], [-1.0, 0.3, 0.0]])
    assert len(bp._blocks(np.abs(J).max(axis=1), bp._RATIO_LIMIT[np.dtype(np.float32)] / 2)) >= 2
    new = bp.run_bp(J, theta, tol=1e-6, damping=0.2, dtype=np.float32)
    ref = bp.run_bp(J, theta, tol=1e-13, max_iter=2000, damping=0.2, legacy=True)
    assert np.all(np.isfinite(new.u)) and new.converged.all()
    np.testing.assert_allclose(new.u, ref.u, rtol=0, atol=1e-6)   # tol-limited, see the test above


def test_large_fields_fall_back_to_the_log_domain_sweep():
    # Hidden fields |θ| up to ~80: e^{2F} would leave the float32 range, so run_bp takes the log-domain sweep
    # (vectorised arctanh); it must reproduce the previous float32 sweep and the float64 fixed point.
    J, theta = _instance(N=64, P=6, K=2, seed=3)
    theta *= 40
    assert np.abs(J).sum(axis=0).max() + np.abs(theta).max() > bp._RATIO_LIMIT[np.dtype(np.float32)]
    kw = dict(tol=1e-6, max_iter=500, damping=0.2, dtype=np.float32)
    new = bp.run_bp(J, theta, **kw)
    direct = bp._run_bp_log(J, theta, None, **kw)
    np.testing.assert_array_equal(new.u, direct.u)                 # the dispatch took the log-domain sweep
    old = bp.run_bp(J, theta, legacy=True, **kw)
    exact = bp.run_bp(J, theta, tol=1e-14, max_iter=2000, damping=0.2, legacy=True).u
    assert new.converged.all() and abs(new.iterations - old.iterations) <= 1
    # tol-limited like the float32 test above; arctanh within 6 ulp of numpy's adds ~1e-8.
    assert np.abs(new.u - exact).max() < 1e-6 and np.abs(old.u - exact).max() < 1e-6


def test_statistics_and_partition_term_match_the_previous_implementation():
    J, theta = _instance(N=120, P=10, K=3, seed=4)
    u = bp.run_bp(J, theta, tol=1e-13, max_iter=2000, damping=0.2).u
    new, old = bp.bp_statistics(J, theta, u), bp.bp_statistics(J, theta, u, legacy=True)
    # Beliefs: arctanh(ct) as ½ ln((1+ct)/(1-ct)) rounds to <= 3·2^-53 absolute per edge and F sums N of them:
    # <= 120·3.4e-16 = 4e-14 on F, which tanh does not enlarge.
    for name in ("h", "sigma", "sigma_h"):
        np.testing.assert_allclose(getattr(new, name), getattr(old, name), rtol=0, atol=5e-14)
    # ln Z sums ~4 terms per edge with <= ~4 ulp each (values <= ~1): K·N·P·4·4·2^-53 ≈ 1e-11 worst case.
    np.testing.assert_allclose(new.log_z, old.log_z, rtol=0, atol=1e-11)
    m = J * np.sqrt(120)
    z = np.random.default_rng(5).normal(size=(3, 10))
    for fn, args in ((bp.partition_term, (m, 1.0, z)), (bp.annealed_partition_term, (m, 1.0, 0.3 * u))):
        a = fn(*args, tol=1e-13, max_iter=2000)
        b = fn(*args, tol=1e-13, max_iter=2000, legacy=True)
        assert a.value == pytest.approx(b.value, abs=1e-11)
        np.testing.assert_allclose(a.grad, b.grad, rtol=0, atol=1e-12)
        value, grad, run = a                                  # unpacks like the former named tuple
        assert value == a.value and grad is a.grad and run is a.bp


def test_data_term_is_unchanged_by_the_log2cosh_formula():
    rng = np.random.default_rng(6)
    X = np.where(rng.random((50, 30)) < 0.5, -1, 1)
    m = rng.uniform(-0.9, 0.9, (30, 8))
    value, grad = clt.data_term(X, m, 1.0, n_quad=32)
    x, w = clt.gauss_hermite(32)
    A = (X @ m / np.sqrt(30))[:, :, None] + clt.field_std(m)[None, :, None] * x
    old = float(np.sum(bp._log2cosh_reference(A) @ w))
    # 50·8 patterns x units, each a weighted sum of terms within 5 ulp (log2cosh test): |Δ| <= 400·5·2^-52·~3.
    assert value == pytest.approx(old, abs=1e-11)
    assert grad.shape == m.shape
