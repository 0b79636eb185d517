"""Probabilistic forward pass (PFP) through ``dense -> batch norm -> sign`` layers (Roth & Pernkopf).

Each weight is an independent random variable with mean ``μ_w`` and variance ``σ²_w`` (for a categorical
posterior over {−1, 0, +1}: ``μ_w = q(+1) − q(−1)``, ``σ²_w = q(+1) + q(−1) − μ_w²``). By the central limit
theorem every pre-activation is treated as Gaussian ``a ~ N(μ_a, σ²_a)``; weights and inputs are independent:

    first layer (deterministic input x):   μ_a = x μ_w^T,    σ²_a = x² σ²_w^T
    later layers (input mean μ_x, var σ²_x): μ_a = μ_x μ_w^T,
                 σ²_a = μ_x² σ²_w^T + σ²_x (μ_w² + σ²_w)^T     (= Σ σ²_w μ_x² + μ_w² σ²_x + σ²_w σ²_x)

Batch norm of a batch of Gaussians (no affine parameters): ``m = mean_B μ_a``, ``v = mean_B(σ²_a + (μ_a − m)²)``
(law of total variance, biased), ``μ_z = (μ_a − m)/sqrt(v + eps)``, ``σ²_z = σ²_a/(v + eps)``.

Sign of a Gaussian: ``μ_h = E[sign z] = 2Φ(μ_z/σ_z) − 1 = erf(μ_z / sqrt(2σ²_z + ε))``, ``σ²_h = 1 − μ_h²``.

Dropout (inverted, keep probability k): the mask multiplies ``μ`` by ``1/k`` and ``σ²`` by ``1/k²``.

The last layer's ``(μ_z, σ²_z)`` are Gaussian logits. Every step has a hand-written backward pass (derivations
beside the code), checked against central differences in ``tests/test_mlp_pfp.py``.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from lowprec_rbm.nn.network import Architecture, BNStats

__all__ = ["erf", "dense_moments", "sign_moments", "pfp_forward", "pfp_backward", "SIGN_EPS"]

SIGN_EPS = 1e-8   # ε in sqrt(2σ² + ε): keeps the CDF step finite when a pre-activation has no variance

# Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7) for |x| >= 0.5, Maclaurin series below (truncation error
# of the 9-term series at |x| < 0.5 is below 0.5^19 / (9! * 19) < 3e-13), so small arguments keep their
# relative accuracy. 1.5e-7 absolute is at float32 resolution near ±1.
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


# elements per piece in :func:`erf`: bounds its temporaries to a few MB; much smaller pieces cost more in
# per-call overhead (~40 NumPy calls a piece) than they save in cache misses
CHUNK = 1 << 17


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, vectorised, accurate to 1.5e-7 absolute (tested against :func:`math.erf`).

    The ~40 elementwise operations run in place on pieces of :data:`CHUNK` elements (fewer fresh pages, and the
    series only where it is used), 2–3× faster on the sign layers' large maps than the formula written out; the
    operations and their order are those of that formula (:func:`_erf_piece`), so the result is the same bit for
    bit.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    out = np.empty(x.shape, dtype=x.dtype)
    flat_x, flat_out = x.reshape(-1), out.reshape(-1)
    for lo in range(0, flat_x.size, CHUNK):
        _erf_piece(flat_x[lo:lo + CHUNK], flat_out[lo:lo + CHUNK])
    return out


def _erf_piece(x: np.ndarray, out: np.ndarray) -> None:
    """``out = erf(x)`` for a 1-d piece. The in-place steps compute exactly
    ``ax = |x|; t = 1/(1 + p ax); poly = t (a0 + t (a1 + t (a2 + t (a3 + t a4))))``,
    ``big = sign(x) (1 − poly exp((−ax) ax))`` and the series ``Σ_n term_n / (2n + 1)`` with
    ``term_n = term_{n−1} (−x²) / n`` (multiplication and addition commute exactly, and negation is exact), with
    ``big`` where ``|x| >= 0.5`` and the series, computed only on the other elements, there."""
    ax = np.abs(x)
    t = np.multiply(ax, _AS_P)
    t += 1.0
    np.divide(1.0, t, out=t)
    poly = np.multiply(t, _AS_A[4])
    for a in (_AS_A[3], _AS_A[2], _AS_A[1], _AS_A[0]):
        poly += a
        poly *= t
    e = np.negative(ax, out=t)                 # t is no longer needed
    e *= ax
    np.exp(e, out=e)
    e *= poly
    np.subtract(1.0, e, out=e)
    np.sign(x, out=poly)
    np.multiply(poly, e, out=out)              # big
    small = ax < 0.5
    xs = x[small]                              # the series only where it is used: |x| < 0.5, so no clipping
    if xs.size == 0:
        return
    # erf x = 2/sqrt(pi) Σ_n (-1)^n x^(2n+1) / (n! (2n+1))
    neg_x2 = np.multiply(xs, xs)
    np.negative(neg_x2, out=neg_x2)
    term = xs.copy()
    series = xs
    part = np.empty_like(xs)
    for n in range(1, 9):
        term *= neg_x2
        term /= n
        np.divide(term, 2 * n + 1, out=part)
        series += part
    series *= _TWO_OVER_SQRT_PI
    out[small] = series


def dense_moments(mu_x: np.ndarray, var_x: np.ndarray | None, mu_w: np.ndarray, var_w: np.ndarray,
                  sign_input: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``a = x W^T`` for independent weights and inputs (exact for independent terms).

    Parameters
    ----------
    mu_x : (B, in) input means
    var_x : (B, in) input variances, or None for deterministic inputs (ignored when ``sign_input``)
    mu_w, var_w : (out, in) weight means and variances
    sign_input : bool
        The inputs are ±1 valued (sign activations), so ``σ²_x = 1 − μ_x²``; then
        ``σ²_a = Σ_j E[w²]_j − μ_x² (μ_w²)^T`` with ``E[w²] = μ_w² + σ²_w``: one matrix product instead of two.
        Rounding can make it slightly negative: it is clamped at 0.

    Returns
    -------
    mu_a, var_a : (B, out)
    """
    mu_a = mu_x @ mu_w.T
    if sign_input:
        var_a = np.maximum((mu_w * mu_w + var_w).sum(axis=1) - (mu_x * mu_x) @ (mu_w * mu_w).T, 0)
    else:
        var_a = (mu_x * mu_x) @ var_w.T
        if var_x is not None:
            var_a = var_a + var_x @ (mu_w * mu_w + var_w).T
    return mu_a, var_a


def sign_moments(mu: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``sign(a)`` for ``a ~ N(μ, σ²)``: ``erf(μ / sqrt(2σ² + ε))`` and ``1 − mean²``."""
    m = erf(mu / np.sqrt(2.0 * var + mu.dtype.type(SIGN_EPS)))
    return m, 1.0 - m * m


def pfp_forward(mu_w: Sequence[np.ndarray], var_w: Sequence[np.ndarray], x: np.ndarray, arch: Architecture,
                rng: np.random.Generator | None = None, running: list[BNStats] | None = None,
                train: bool = True):
    """Moments of the logits of ``arch``'s network with independent random weights and sign activations.

    The moment rule of each layer lives with the layer (:mod:`lowprec_rbm.nn.stack`); this runs them in order
    (:meth:`lowprec_rbm.nn.stack.Network.pfp_forward`).

    Parameters
    ----------
    mu_w, var_w : lists of weight means and variances per block
    x : (B, n_inputs) deterministic inputs
    rng : Generator, needed when dropout is active (``train`` and a non-zero rate)
    running : list of BNStats, optional
        Running averages of the batch moments ``(m, v)``, updated in place with ``arch.bn_momentum``.
    train : bool
        Batch statistics and dropout when True; otherwise ``running`` is used as fixed statistics.

    Returns
    -------
    mu_z, var_z : (B, n_classes) logit means and variances
    cache : for :func:`pfp_backward` (only meaningful when ``train``)
    """
    if arch.activation != "sign":
        raise ValueError(f"the probabilistic forward pass supports sign activations only, got {arch.activation!r}")
    return arch.network().pfp_forward(mu_w, var_w, x, rng, running, train)


def pfp_backward(cache, g_mu: np.ndarray, g_var: np.ndarray):
    """Gradients w.r.t. the weight means and variances, given the gradients w.r.t. the logit moments.

    Returns
    -------
    g_mu_w, g_var_w : lists of arrays shaped like the weights
    """
    return cache[1].network.pfp_backward(cache, g_mu, g_var)
