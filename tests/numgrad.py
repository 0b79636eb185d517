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
