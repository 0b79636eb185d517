"""Convolution, max-pooling and flatten: forward against a direct definition, backward against central
differences (float64), padding value honoured, and the moment propagation against Monte Carlo."""
from __future__ import annotations

import numpy as np
import pytest

from lowprec_rbm.nn.conv import (conv2d_backward, conv2d_forward, conv2d_moments, flatten_backward,
                                 flatten_forward, maxpool2_backward, maxpool2_forward, maxpool2_pm1_moments)
from numgrad import in_place as numgrad


def _direct_conv(x, w, pad):
    """The definition, with explicit loops over output pixels (slow, obviously right)."""
    b, h, wd, c = x.shape
    o, k = w.shape[0], w.shape[1]
    p = k // 2
    xp = np.full((b, h + 2 * p, wd + 2 * p, c), pad, dtype=np.float64)
    xp[:, p:p + h, p:p + wd] = x
    y = np.zeros((b, h, wd, o))
    for i in range(h):
        for j in range(wd):
            y[:, i, j] = np.einsum("bijc,oijc->bo", xp[:, i:i + k, j:j + k], w)
    return y


@pytest.mark.parametrize("k,pad", [(1, 0.0), (3, 1.0), (3, -1.0), (5, 0.0)])
def test_conv_forward_is_the_definition(k, pad):
    rng = np.random.default_rng(k)
    x = rng.choice([-1.0, 1.0], (2, 6, 5, 3))
    w = rng.choice([-1.0, 1.0], (4, k, k, 3))
    y, _ = conv2d_forward(x, w, pad)
    # ±1 products: exact integers in float64, so equality is exact
    np.testing.assert_array_equal(y, _direct_conv(x, w, pad))


def test_padding_value_reaches_the_border_only():
    x = np.ones((1, 4, 4, 1))
    w = np.ones((1, 3, 3, 1))
    plus, _ = conv2d_forward(x, w, 1.0)
    minus, _ = conv2d_forward(x, w, -1.0)
    np.testing.assert_array_equal(plus[0, :, :, 0], np.full((4, 4), 9.0))
    # corner: 4 inside, 5 padded; edge: 6 inside, 3 padded; interior: 9 inside
    np.testing.assert_array_equal(minus[0, :, :, 0], [[-1, 3, 3, -1], [3, 9, 9, 3], [3, 9, 9, 3], [-1, 3, 3, -1]])


@pytest.mark.parametrize("k,pad", [(3, 1.0), (5, -1.0), (1, 0.0)])
def test_conv_backward_matches_central_differences(k, pad):
    rng = np.random.default_rng(10 + k)
    x = rng.normal(size=(2, 5, 4, 3))
    w = rng.normal(size=(2, k, k, 3))
    r = rng.normal(size=(2, 5, 4, 2))  # loss = Σ r * conv(x, w): linear, so central differences are exact
    loss = lambda: float(np.sum(r * conv2d_forward(x, w, pad)[0]))  # noqa: E731
    _, cache = conv2d_forward(x, w, pad)
    gx, gw = conv2d_backward(r, cache, w)
    # f is linear in each argument: the central difference has no truncation error, only rounding of
    # sums of ~100 terms of size ~1 (1e-13) divided by 2e-6: 1e-7 is a safe bound.
    np.testing.assert_allclose(gx, numgrad(loss, x), atol=1e-7)
    np.testing.assert_allclose(gw, numgrad(loss, w), atol=1e-7)
    assert conv2d_backward(r, cache, w, need_input_grad=False)[0] is None


def test_maxpool_forward_backward_and_ties():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 6, 3))
    y, cache = maxpool2_forward(x)
    expect = x.reshape(2, 2, 2, 3, 2, 3).max(axis=(2, 4))
    np.testing.assert_array_equal(y, expect)
    g = rng.normal(size=y.shape)
    r = lambda: float(np.sum(g * maxpool2_forward(x)[0]))  # noqa: E731
    # distinct values: the max is locally linear, central differences exact up to rounding
    np.testing.assert_allclose(maxpool2_backward(g, cache), numgrad(r, x), atol=1e-7)
    # ties (±1 inputs): the whole gradient goes to the first maximum in (row, column) order
    t = np.array([[1.0, 1.0], [-1.0, 1.0]]).reshape(1, 2, 2, 1)
    yt, ct = maxpool2_forward(t)
    assert yt.item() == 1.0
    np.testing.assert_array_equal(maxpool2_backward(np.ones((1, 1, 1, 1)), ct)[0, :, :, 0], [[1, 0], [0, 0]])
    with pytest.raises(ValueError, match="even height and width"):
        maxpool2_forward(np.zeros((1, 3, 4, 1)))


@pytest.mark.parametrize("k", [1, 3, 5])
def test_conv_backward_is_the_definition_in_float32(k):
    """The training dtype: with ±1 inputs/weights and small-integer output gradients every sum is an exact
    integer in float32, so the per-offset col2im and the weight gradient must equal the loop definition exactly
    (dx[b,i,j,c] = Σ_{di,dj,o} g[b, i-di+p, j-dj+p, o] w[o,di,dj,c] over in-range pixels; dW = Σ g · window)."""
    rng = np.random.default_rng(10 + k)
    x = rng.choice(np.array([-1, 1], np.float32), (3, 6, 8, 5))
    w = rng.choice(np.array([-1, 1], np.float32), (4, k, k, 5))
    y, cache = conv2d_forward(x, w, 1.0)
    g = rng.integers(-3, 4, y.shape).astype(np.float32)
    gx, gw = conv2d_backward(g, cache, w)
    assert gx.dtype == gw.dtype == np.float32
    p = k // 2
    b, h, wd, c = x.shape
    xp = np.ones((b, h + 2 * p, wd + 2 * p, c))
    xp[:, p:p + h, p:p + wd] = x
    ref_x = np.zeros((b, h + 2 * p, wd + 2 * p, c))
    ref_w = np.zeros(w.shape)
    for i in range(h):
        for j in range(wd):
            ref_x[:, i:i + k, j:j + k] += np.einsum("bo,oijc->bijc", g[:, i, j].astype(np.float64), w)
            ref_w += np.einsum("bo,bijc->oijc", g[:, i, j].astype(np.float64), xp[:, i:i + k, j:j + k])
    np.testing.assert_array_equal(gx, ref_x[:, p:p + h, p:p + wd])
    np.testing.assert_array_equal(gw, ref_w)
    assert conv2d_backward(g, cache, w, need_input_grad=False)[0] is None


def test_maxpool_on_pm1_ties_routes_to_the_first_maximum_of_every_window():
    """±1 maps are full of ties: each window's gradient goes to its first maximum in the order
    (0,0), (0,1), (1,0), (1,1), every other position gets 0 (loop definition)."""
    rng = np.random.default_rng(7)
    x = rng.choice(np.array([-1, 1], np.float32), (2, 6, 4, 3))
    y, cache = maxpool2_forward(x)
    g = rng.integers(1, 9, y.shape).astype(np.float32)
    gx = maxpool2_backward(g, cache)
    ref = np.zeros(x.shape, np.float32)
    for b in range(2):
        for i in range(3):
            for j in range(2):
                for ch in range(3):
                    win = [x[b, 2 * i + di, 2 * j + dj, ch] for di in (0, 1) for dj in (0, 1)]
                    assert y[b, i, j, ch] == max(win)
                    q = int(np.argmax(win))
                    ref[b, 2 * i + q // 2, 2 * j + q % 2, ch] = g[b, i, j, ch]
    np.testing.assert_array_equal(gx, ref)


def test_flatten_order_is_row_column_channel():
    x = np.arange(2 * 2 * 3 * 4).reshape(2, 2, 3, 4)
    f, shape = flatten_forward(x)
    assert f.shape == (2, 24) and f[1, 5] == x[1, 0, 1, 1]
    np.testing.assert_array_equal(flatten_backward(f, shape), x)


def test_moments_against_monte_carlo():
    """Independent ±1 inputs and ternary weights: the propagated mean and variance against 40,000 samples.

    Tolerance: the Monte Carlo mean of y (|y| <= 27) has standard error <= sqrt(Var/n) <= 27/200 = 0.135;
    we allow 5 standard errors on the mean and a relative 5 % on the variance (its estimator's relative
    standard error is about sqrt(2/n) = 0.7 % for near-Gaussian sums)."""
    rng = np.random.default_rng(1)
    n = 40_000
    mx = rng.uniform(-0.9, 0.9, (1, 4, 4, 3))
    pw = rng.dirichlet([1, 1, 1], (2, 3, 3, 3))               # P(w = -1, 0, +1)
    mw = pw[..., 2] - pw[..., 0]
    ew2 = pw[..., 2] + pw[..., 0]
    mean, var = conv2d_moments(mx, np.ones_like(mx), mw, ew2, 1.0)
    xs = np.where(rng.random((n, 4, 4, 3)) < (1 + mx[0]) / 2, 1.0, -1.0)
    u = rng.random((n, 2, 3, 3, 3))
    ws = np.where(u < pw[..., 0], -1.0, np.where(u < pw[..., 0] + pw[..., 1], 0.0, 1.0))
    # one weight sample per input sample: y_s = conv(x_s, w_s) at the centre pixel (1, 1) and a corner (0, 0)
    p = np.pad(xs, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=1.0)
    for (i, j) in ((1, 1), (0, 0)):
        y = np.einsum("sijc,soijc->so", p[:, i:i + 3, j:j + 3], ws)
        se = np.sqrt(var[0, i, j] / n)
        assert np.all(np.abs(y.mean(axis=0) - mean[0, i, j]) <= 5 * se + 1e-12)
        np.testing.assert_allclose(y.var(axis=0), var[0, i, j], rtol=0.05)


def test_pm1_pool_moments_are_exact_for_independent_units():
    m = np.array([0.5, -0.2, -0.9, 0.1]).reshape(1, 2, 2, 1)
    p_minus = np.prod((1 - m.ravel()) / 2)
    np.testing.assert_allclose(maxpool2_pm1_moments(m).item(), 1 - 2 * p_minus, rtol=1e-15)
    # enumerate all 16 configurations: the same number
    vals = np.array(np.meshgrid(*[[-1, 1]] * 4, indexing="ij")).reshape(4, -1).T
    probs = np.prod(np.where(vals > 0, (1 + m.ravel()) / 2, (1 - m.ravel()) / 2), axis=1)
    np.testing.assert_allclose(np.sum(probs * vals.max(axis=1)), maxpool2_pm1_moments(m).item(), rtol=1e-12)
