"""Numerical derivatives shared by the gradient tests."""
from __future__ import annotations

import numpy as np


def central(f, x, eps=1e-6):
    """Central differences of a scalar f at x (any shape), one coordinate at a time.

    The error per coordinate is O(eps² · f''') from truncation plus O(rounding(f) / eps); each caller argues
    its eps and tolerance for its f.
    """
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[idx] = eps
        g[idx] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


IN_PLACE_STEP = 1e-6


def in_place(f, x, h=IN_PLACE_STEP):
    """Central differences of a scalar f() that reads x, perturbing x in place one coordinate at a time and
    restoring it (for closures over a network's weight arrays). Same error terms as :func:`central`."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


def close(a, b):
    """The gradient tests' tolerance (rtol 1e-6, atol 1e-8), argued in tests/test_mlp_grad.py."""
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)
