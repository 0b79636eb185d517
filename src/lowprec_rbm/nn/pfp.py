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
from typing import NamedTuple, Sequence

import numpy as np

from lowprec_rbm.nn.network import Architecture, BNStats

__all__ = ["erf", "dense_moments", "sign_moments", "PFPCache", "pfp_forward", "pfp_backward", "SIGN_EPS"]

SIGN_EPS = 1e-8   # ε in sqrt(2σ² + ε): keeps the CDF step finite when a pre-activation has no variance

# Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7) for |x| >= 0.5, Maclaurin series below (truncation error
# of the 9-term series at |x| < 0.5 is below 0.5^19 / (9! * 19) < 3e-13), so small arguments keep their
# relative accuracy. 1.5e-7 absolute is at float32 resolution near ±1.
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, vectorised, accurate to 1.5e-7 absolute (tested against :func:`math.erf`)."""
    x = np.asarray(x)
    ax = np.abs(x)
    t = 1.0 / (1.0 + _AS_P * ax)
    poly = t * (_AS_A[0] + t * (_AS_A[1] + t * (_AS_A[2] + t * (_AS_A[3] + t * _AS_A[4]))))
    big = np.sign(x) * (1.0 - poly * np.exp(-ax * ax))
    # erf x = 2/sqrt(pi) Σ_n (-1)^n x^(2n+1) / (n! (2n+1))
    x2 = x * x
    term = x.copy()
    series = x.copy()
    for n in range(1, 9):
        term = term * (-x2) / n
        series = series + term / (2 * n + 1)
    series = series * _TWO_OVER_SQRT_PI
    return np.where(ax < 0.5, series, big).astype(x.dtype, copy=False)


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


class _LayerCache(NamedTuple):
    mu_in: np.ndarray            # μ_x after dropout
    var_in: np.ndarray | None    # σ²_x after dropout (None: deterministic input)
    mask: np.ndarray | None      # dropout mask with 1/k folded in
    c: np.ndarray                # μ_a − m
    var_a: np.ndarray            # σ²_a
    r: np.ndarray                # (v + eps)^(-1/2), shape (F,)
    mu_z: np.ndarray
    s: np.ndarray | None         # sqrt(2σ²_z + ε) (hidden layers)
    u: np.ndarray | None         # μ_z / s
    mu_h: np.ndarray | None      # erf(u)
    fused: bool                  # σ²_x = 1 − μ_x² was substituted (sign input, no dropout)


class PFPCache(NamedTuple):
    layers: list
    mu_w: list
    var_w: list


def pfp_forward(mu_w: Sequence[np.ndarray], var_w: Sequence[np.ndarray], x: np.ndarray, arch: Architecture,
                rng: np.random.Generator | None = None, running: list[BNStats] | None = None,
                train: bool = True):
    """Moments of the logits of a network with independent random weights and sign activations.

    Parameters
    ----------
    mu_w, var_w : lists of (out, in) arrays
        Weight means and variances per layer.
    x : (B, n_inputs) deterministic inputs
    rng : Generator, needed when dropout is active (``train`` and a non-zero rate)
    running : list of BNStats, optional
        Running averages of the batch moments ``(m, v)``, updated in place with ``arch.bn_momentum``.
    train : bool
        Batch statistics and dropout when True; otherwise ``running`` is used as fixed statistics.

    Returns
    -------
    mu_z, var_z : (B, n_classes) logit means and variances
    cache : PFPCache (for :func:`pfp_backward`; only meaningful when ``train``)
    """
    if arch.activation != "sign":
        raise ValueError(f"the probabilistic forward pass supports sign activations only, got {arch.activation!r}")
    dt = x.dtype
    eps = dt.type(arch.bn_eps)
    mu, var = x, None
    caches = []
    n = len(mu_w)
    mom = arch.bn_momentum
    for i in range(n):
        rate = arch.input_dropout if i == 0 else arch.dropout
        mask = None
        if train and rate > 0.0:
            if rng is None:
                raise ValueError("dropout needs a random generator")
            keep = 1.0 - rate
            mask = (rng.random(mu.shape, dtype=np.float32) < keep).astype(dt) / dt.type(keep)
            mu = mu * mask
            if var is not None:
                var = var * (mask * mask)
        mw = mu_w[i].astype(dt, copy=False)
        vw = var_w[i].astype(dt, copy=False)
        fused = var is not None and mask is None
        mu_a, var_a = dense_moments(mu, None if fused else var, mw, vw, sign_input=fused)
        if train:
            m = mu_a.mean(axis=0)
            c = mu_a - m
            v = np.mean(var_a + c * c, axis=0)
            if running is not None:
                old = running[i]
                running[i] = BNStats((1 - mom) * old.mean + mom * m.astype(np.float64),
                                     (1 - mom) * old.var + mom * v.astype(np.float64))
        else:
            if running is None:
                raise ValueError("evaluation-mode PFP needs BN statistics ('running')")
            c = mu_a - running[i].mean.astype(dt)
            v = running[i].var.astype(dt)
        r = 1.0 / np.sqrt(v + eps)
        mu_z = c * r
        var_z = var_a * (r * r)
        if i < n - 1:
            s = np.sqrt(2.0 * var_z + dt.type(SIGN_EPS))
            u = mu_z / s
            mu_h = erf(u)   # = sign_moments(mu_z, var_z)[0], keeping s and u for the backward pass
            caches.append(_LayerCache(mu, var, mask, c, var_a, r, mu_z, s, u, mu_h, fused))
            mu, var = mu_h, 1.0 - mu_h * mu_h
        else:
            caches.append(_LayerCache(mu, var, mask, c, var_a, r, mu_z, None, None, None, fused))
            return mu_z, var_z, PFPCache(caches, list(mu_w), list(var_w))
    raise ValueError("network has no layers")


def pfp_backward(cache: PFPCache, g_mu: np.ndarray, g_var: np.ndarray):
    """Gradients w.r.t. the weight means and variances, given the gradients w.r.t. the logit moments.

    Returns
    -------
    g_mu_w, g_var_w : lists of (out, in) arrays
    """
    n = len(cache.layers)
    g_mu_w: list = [None] * n
    g_var_w: list = [None] * n
    for i in range(n - 1, -1, -1):
        lc: _LayerCache = cache.layers[i]
        dt = lc.c.dtype
        if i < n - 1:
            # g_mu, g_var are gradients w.r.t. (μ_h, σ²_h) of this layer's output. σ²_h = 1 − μ_h².
            g_muh = g_mu - 2.0 * lc.mu_h * g_var
            # μ_h = erf(u), u = μ_z / s, s = sqrt(2σ²_z + ε): ∂u/∂μ_z = 1/s, ∂u/∂σ²_z = −μ_z / s³.
            g_u = g_muh * (dt.type(_TWO_OVER_SQRT_PI) * np.exp(-lc.u * lc.u))
            g_mu = g_u / lc.s
            g_var = -g_u * lc.mu_z / (lc.s ** 3)
        # Batch norm of Gaussians: μ_z = c r, σ²_z = σ²_a r², c = μ_a − m, r = (v + eps)^(-1/2),
        # v = mean_B(σ²_a + c²). ∂r/∂v = −r³/2; Σ_B c = 0 so the path through m into v vanishes.
        bsz = lc.c.shape[0]
        g_r = np.sum(g_mu * lc.c, axis=0) + 2.0 * lc.r * np.sum(g_var * lc.var_a, axis=0)
        g_v = -0.5 * lc.r ** 3 * g_r
        g_var_a = g_var * (lc.r * lc.r) + g_v / bsz
        g_c = g_mu * lc.r + (2.0 / bsz) * g_v * lc.c
        g_mu_a = g_c - g_c.mean(axis=0)
        # Dense moments (see module docstring).
        mw = cache.mu_w[i].astype(dt, copy=False)
        vw = cache.var_w[i].astype(dt, copy=False)
        mu_in, var_in = lc.mu_in, lc.var_in
        gm = g_mu_a.T @ mu_in
        if lc.fused:
            # σ²_a = Σ_j (μ_w² + σ²_w)_j − μ_x² (μ_w²)^T, with σ²_x eliminated (so its gradient is 0 below).
            g_s = g_var_a.sum(axis=0)[:, None]
            gm = gm + 2.0 * mw * (g_s - g_var_a.T @ (mu_in * mu_in))
            gv = np.broadcast_to(g_s, mw.shape).copy()
        elif var_in is None:
            gv = g_var_a.T @ (mu_in * mu_in)
        else:
            gvx = g_var_a.T @ var_in
            gm = gm + 2.0 * mw * gvx
            gv = g_var_a.T @ (mu_in * mu_in) + gvx
        g_mu_w[i], g_var_w[i] = gm, gv
        if i > 0:
            if lc.fused:
                g_mu = g_mu_a @ mw - 2.0 * mu_in * (g_var_a @ (mw * mw))
                g_var = np.zeros_like(mu_in)
            else:
                g_mu = g_mu_a @ mw + 2.0 * mu_in * (g_var_a @ vw)
                g_var = g_var_a @ (mw * mw + vw)
                if lc.mask is not None:
                    g_mu = g_mu * lc.mask
                    g_var = g_var * (lc.mask * lc.mask)
    return g_mu_w, g_var_w
