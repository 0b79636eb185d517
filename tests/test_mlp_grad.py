"""Hand-written backward passes of the MLP engine against central differences (float64).

Tolerance argument: central differences with step h have truncation error O(h² f''') and rounding error
O(eps_64 |f| / h). With h = 1e-6 and O(1) functions both are below ~1e-9, so a relative tolerance of 1e-6
(plus an absolute 1e-8 for near-zero entries) can only fail on a wrong derivative. Sign activations are
excluded from the numerical check (their true derivative is 0 almost everywhere; the STE gradient is by
definition not the derivative) and are tested for the hard-tanh window instead.
"""
import numpy as np
import pytest

from lowprec_rbm.nn import layers as L
from lowprec_rbm.nn import network as net
from lowprec_rbm.nn.pfp import erf, pfp_backward, pfp_forward
from lowprec_rbm.rules import ternary_vi as tvi
from numgrad import close, in_place as numgrad



@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def test_dense_backward(rng):
    x = rng.standard_normal((5, 4))
    w = rng.standard_normal((3, 4))
    c = rng.standard_normal((5, 3))           # f = Σ c ⊙ (x W^T)
    gx, gw = L.dense_backward(c, x, w)
    close(gw, numgrad(lambda: np.sum(c * L.dense_forward(x, w)), w))
    close(gx, numgrad(lambda: np.sum(c * L.dense_forward(x, w)), x))


def test_batchnorm_backward(rng):
    a = rng.standard_normal((6, 4)) * 3 + 1
    c = rng.standard_normal((6, 4))
    _, cache, _, _ = L.batchnorm_forward(a, 1e-4)
    g = L.batchnorm_backward(c, cache)
    close(g, numgrad(lambda: np.sum(c * L.batchnorm_forward(a, 1e-4)[0]), a))


def test_softmax_cross_entropy_backward(rng):
    z = rng.standard_normal((7, 5))
    y = rng.integers(0, 5, size=7)
    _, g, p = L.softmax_cross_entropy(z, y)
    close(g, numgrad(lambda: L.softmax_cross_entropy(z, y)[0], z))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


def test_relu_and_dropout_backward(rng):
    z = rng.standard_normal((5, 6))
    z[np.abs(z) < 1e-3] = 0.5                   # keep away from the kink so the difference quotient is exact
    c = rng.standard_normal((5, 6))
    close(L.relu_backward(c, z), numgrad(lambda: np.sum(c * L.relu_forward(z)), z))
    y, mask = L.dropout_forward(z, 0.3, np.random.default_rng(0))
    close(L.dropout_backward(c, mask), c * mask)
    assert set(np.unique(mask)) <= {0.0, 1 / 0.7}
    np.testing.assert_array_equal(y, z * mask)


def test_sign_straight_through_window():
    z = np.array([[-2.0, -1.0, -0.3, 0.0, 0.7, 1.0, 1.5]])
    np.testing.assert_array_equal(L.sign_forward(z), [[-1, -1, -1, 1, 1, 1, 1]])
    np.testing.assert_array_equal(L.sign_backward(np.ones_like(z), z), [[0, 1, 1, 1, 1, 1, 0]])


def test_network_backward_relu(rng):
    arch = net.Architecture((6, 5, 4, 3), activation="relu")
    ws = [rng.standard_normal(s) for s in arch.weight_shapes]
    x = rng.standard_normal((8, 6))
    y = rng.integers(0, 3, size=8)

    def f():
        out, _ = net.forward_train(ws, x, arch, None)
        return L.softmax_cross_entropy(out, y)[0]

    out, cache = net.forward_train(ws, x, arch, None)
    grads = net.backward(cache, L.softmax_cross_entropy(out, y)[1], arch)
    for w, g in zip(ws, grads):
        close(g, numgrad(f, w))


def test_network_backward_sign_is_straight_through(rng):
    """With sign activations, the backward equals the backward of the same net with hard-tanh activations."""
    arch = net.Architecture((6, 5, 4, 3), activation="sign", ste_window=1.0)
    ws = [rng.standard_normal(s) for s in arch.weight_shapes]
    x = rng.standard_normal((8, 6))
    y = rng.integers(0, 3, size=8)
    out, cache = net.forward_train(ws, x, arch, None)
    grads = net.backward(cache, L.softmax_cross_entropy(out, y)[1], arch)
    # Only the last layer's gradient is an exact derivative (the sign outputs are fixed inputs to it).
    close(grads[-1], numgrad(lambda: L.softmax_cross_entropy(net.forward_train(ws, x, arch, None)[0], y)[0],
                             ws[-1]))
    # Manual STE chain for the first layer: dL/dz1 = (dL/dh1) * 1{|z1| <= 1}. The layer sequence is
    # dense, BN, sign, dense, BN, sign, dense, BN; a sign layer caches its input z, a BN layer its xhat/rstd.
    caches = cache[0]
    assert [l.name for l in arch.network().layers] == ["dense", "batchnorm", "sign"] * 2 + ["dense", "batchnorm"]
    z0, z1 = caches[2], caches[5]
    g = L.softmax_cross_entropy(out, y)[1]
    g = L.batchnorm_backward(g, caches[7]) @ ws[2]
    g = L.batchnorm_backward(g * (np.abs(z1) <= 1), caches[4]) @ ws[1]
    g = L.batchnorm_backward(g * (np.abs(z0) <= 1), caches[1])
    close(grads[0], g.T @ x)


def test_erf_matches_math_erf():
    import math
    x = np.concatenate([np.linspace(-6, 6, 2001), [1e-8, -1e-5, 0.4999, 0.5, 0.5001]])
    ref = np.array([math.erf(v) for v in x])
    # A&S 7.1.26 bound: 1.5e-7 absolute (allow 2e-7 for float64 evaluation of the polynomial).
    np.testing.assert_allclose(erf(x), ref, rtol=0, atol=2e-7)
    small = x[np.abs(x) < 0.5]
    np.testing.assert_allclose(erf(small), [math.erf(v) for v in small], rtol=1e-12, atol=0)


def _erf_formula(x):
    """The training erf written out on whole arrays (A&S 7.1.26 for |x| >= 0.5, the 9-term series below): what
    the in-place, piecewise :func:`erf` must equal bit for bit."""
    from lowprec_rbm.nn.pfp import _AS_A, _AS_P, _TWO_OVER_SQRT_PI
    ax = np.abs(x)
    t = 1.0 / (1.0 + _AS_P * ax)
    poly = t * (_AS_A[0] + t * (_AS_A[1] + t * (_AS_A[2] + t * (_AS_A[3] + t * _AS_A[4]))))
    big = np.sign(x) * (1.0 - poly * np.exp(-ax * ax))
    xs = np.clip(x, -0.5, 0.5)
    x2 = xs * xs
    term = xs.copy()
    series = xs.copy()
    for n in range(1, 9):
        term = term * (-x2) / n
        series = series + term / (2 * n + 1)
    return np.where(ax < 0.5, series * _TWO_OVER_SQRT_PI, big)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erf_in_pieces_equals_the_formula_bit_for_bit(dtype, monkeypatch):
    from lowprec_rbm.nn import pfp
    monkeypatch.setattr(pfp, "CHUNK", 1000)       # many pieces, some with no |x| < 0.5 at all
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.standard_normal(3000) * 0.2, rng.standard_normal(2500) * 4 + 10,
                        rng.standard_normal(3000) * 2,
                        [0.0, -0.0, 0.5, -0.5, 0.49999997, np.inf, -np.inf, np.nan, 1e-40, -30.0]]).astype(dtype)
    with np.errstate(invalid="ignore"):           # the formula's sign(nan), clip(inf) and friends
        want = _erf_formula(x)
    got = erf(x.reshape(-1, 7) if x.size % 7 == 0 else x)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.reshape(-1).view(np.uint8), want.view(np.uint8))
    assert erf(x[:0]).shape == (0,)


def test_pfp_backward(rng, exact_erf):
    arch = net.Architecture((5, 4, 4, 3), activation="sign", input_dropout=0.0)
    logits = [rng.standard_normal((3,) + s) for s in arch.weight_shapes]
    x = rng.standard_normal((6, 5))
    cm = rng.standard_normal((6, 3))
    cv = rng.standard_normal((6, 3))

    def f():
        mus, vs = zip(*[tvi.moments(r)[1:] for r in logits])
        mz, vz, _ = pfp_forward(mus, vs, x, arch)
        return np.sum(cm * mz) + np.sum(cv * vz)

    qs, mus, vs = zip(*[tvi.moments(r) for r in logits])
    _, _, cache = pfp_forward(mus, vs, x, arch)
    gm, gv = pfp_backward(cache, cm, cv)
    for i, r in enumerate(logits):
        close(tvi.moments_backward(qs[i], mus[i], gm[i], gv[i]), numgrad(f, r))


def test_pfp_backward_with_dropout(rng, exact_erf):
    """Dropout on sign outputs takes the unfused variance path (σ²_x no longer 1 − μ_x²)."""
    arch = net.Architecture((5, 4, 4, 3), activation="sign", dropout=0.4, input_dropout=0.2)
    mus = [rng.uniform(-1, 1, s) for s in arch.weight_shapes]
    vs = [rng.uniform(0.05, 0.5, s) for s in arch.weight_shapes]
    x = rng.standard_normal((6, 5))
    cm, cv = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))

    def f():   # same dropout masks every call: same seed
        mz, vz, _ = pfp_forward(mus, vs, x, arch, np.random.default_rng(7))
        return np.sum(cm * mz) + np.sum(cv * vz)

    _, _, cache = pfp_forward(mus, vs, x, arch, np.random.default_rng(7))
    gm, gv = pfp_backward(cache, cm, cv)
    for i in range(3):
        close(gm[i], numgrad(f, mus[i]))
        close(gv[i], numgrad(f, vs[i]))


def test_ternary_kl_gradient(rng):
    rho = rng.standard_normal((3, 4, 5))
    close(tvi.kl_grad(rho, 0.6), numgrad(lambda: tvi.kl(rho, 0.6), rho))
