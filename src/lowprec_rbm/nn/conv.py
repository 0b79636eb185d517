"""Convolution, 2x2 max-pooling and flatten as forward/backward pairs (NHWC, vectorised, dtype-generic).

Layout: activations are ``(B, H, W, C)`` (channels last, so a patch's K = k*k*C values are contiguous in
the order a deployment packs them: row, column, channel); weights are ``(O, k, k, C)``. Stride 1, odd k,
"same" output size.

Padding is a *value*, fixed from the first training step to deployment (issue 12): with ±1 activations there
is no zero, so a binary layer pads with ``pad_value = +1`` (bit 1 of bit layout v1; the exported kernel
reads padded positions as set bits), and a pixel layer pads with 0 (a black pixel, exact in the bit-plane
kernel). The padded border is a constant: it receives no gradient, and in the moment propagation it has mean
``pad_value`` and variance 0.

im2col: the padded input's k x k windows become rows of a ``(B*H*W, k*k*C)`` matrix, so the convolution is one
BLAS matrix product ``cols @ W^T`` with W reshaped to ``(O, k*k*C)``; the backward pass is two more products
and a col2im that loops over the k*k kernel offsets only (each iteration is a strided add over the whole
batch, all pixels and channels).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["ConvCache", "check_kernel", "im2col_shape", "conv2d_forward", "conv2d_backward", "conv2d_moments",
           "PoolCache", "maxpool2_forward", "maxpool2_backward", "maxpool2_pm1_moments",
           "flatten_forward", "flatten_backward"]


def check_kernel(w: np.ndarray) -> int:
    """Kernel size k of weights ``(O, k, k, C)``; ValueError unless 4-d, square and odd."""
    if w.ndim != 4 or w.shape[1] != w.shape[2] or w.shape[1] % 2 == 0:
        raise ValueError(f"conv weights must be (out, k, k, in) with odd k, got shape {w.shape}")
    return int(w.shape[1])


def _pad(x: np.ndarray, p: int, value: float) -> np.ndarray:
    if p == 0:
        return x
    return np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="constant", constant_values=value)


def im2col_shape(x_shape: tuple, k: int) -> tuple:
    """Shape ``(B*H*W, k*k*C)`` of the im2col matrix of an input ``(B, H, W, C)``."""
    b, h, w, c = x_shape
    return (b * h * w, k * k * c)


def _im2col(x: np.ndarray, k: int, value: float, out: np.ndarray | None = None) -> np.ndarray:
    """(B, H, W, C) -> (B*H*W, k*k*C): row (b, i, j) holds the padded window centred on pixel (i, j), in
    (row, column, channel) order. Written into ``out`` when given (a C-contiguous array of that shape and x's
    dtype, e.g. the previous step's matrix: reusing it skips the first-touch cost of fresh pages)."""
    b, h, w, c = x.shape
    xp = _pad(x, k // 2, value)
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))  # (B, H, W, C, k, k), a view
    shape = im2col_shape(x.shape, k)
    if out is None:
        return np.ascontiguousarray(win.transpose(0, 1, 2, 4, 5, 3)).reshape(shape)
    if out.shape != shape or out.dtype != x.dtype or not out.flags.c_contiguous:
        raise ValueError(f"im2col buffer must be a C-contiguous {x.dtype} array of shape {shape}, got "
                         f"{out.dtype} {out.shape}")
    np.copyto(out.reshape(b, h, w, k, k, c), win.transpose(0, 1, 2, 4, 5, 3))
    return out


class ConvCache(NamedTuple):
    cols: np.ndarray          # (B*H*W, k*k*C) the im2col matrix of the forward input
    shape: tuple              # (B, H, W, C) of the input


def conv2d_forward(x: np.ndarray, w: np.ndarray, pad_value: float, cols: np.ndarray | None = None):
    """``y[b, i, j, o] = Σ_{di, dj, c} xpad[b, i+di, j+dj, c] w[o, di, dj, c]``: x (B, H, W, C), w (O, k, k, C)
    -> y (B, H, W, O), with x padded by ``pad_value`` (k//2 on each side). Returns ``(y, cache)``; the im2col
    matrix (kept in the cache for the backward pass) is written into ``cols`` when given."""
    k = check_kernel(w)
    if x.ndim != 4 or x.shape[3] != w.shape[3]:
        raise ValueError(f"conv input must be (B, H, W, {w.shape[3]}) for weights {w.shape}, got {x.shape}")
    cols = _im2col(x, k, pad_value, cols)
    y = cols @ w.reshape(w.shape[0], -1).T
    b, h, wd, _ = x.shape
    return y.reshape(b, h, wd, w.shape[0]), ConvCache(cols, x.shape)


def conv2d_backward(g: np.ndarray, cache: ConvCache, w: np.ndarray, need_input_grad: bool = True):
    """Gradients of :func:`conv2d_forward`: ``dW = g^T cols`` (O, k, k, C) and ``dx`` (B, H, W, C) (None if
    not needed). dx is col2im of ``g W``: each kernel offset (di, dj) adds ``g W[:, di, dj, :]`` (one BLAS
    product with a contiguous (B*H*W, C) result) to the padded input gradient shifted by (di, dj); the
    padding's share is dropped (a constant border). Computing the product per offset instead of one
    ``(B*H*W, k*k*C)`` product avoids gathering strided (di, dj) slices out of that matrix (the same sums in
    the same order: each element is the same length-O dot product, added in the same offset order)."""
    k = check_kernel(w)
    o = w.shape[0]
    g2 = g.reshape(-1, o)
    gw = (g2.T @ cache.cols).reshape(w.shape)
    if not need_input_grad:
        return None, gw
    b, h, wd, c = cache.shape
    p = k // 2
    gx = np.zeros((b, h + 2 * p, wd + 2 * p, c), dtype=g.dtype)
    part = np.empty((b * h * wd, c), dtype=g.dtype)
    for di in range(k):
        for dj in range(k):
            np.matmul(g2, w[:, di, dj, :], out=part)
            gx[:, di:di + h, dj:dj + wd, :] += part.reshape(b, h, wd, c)
    return gx[:, p:p + h, p:p + wd, :], gw


def conv2d_moments(mx: np.ndarray, ex2: np.ndarray, mw: np.ndarray, ew2: np.ndarray, pad_value: float):
    """Mean and variance of ``y = conv(x, w)`` for independent inputs and weights (probabilistic forward pass).

    y is a sum of independent products x_m w_m, so E[y] = Σ E[x]E[w] and
    Var[y] = Σ (E[x²]E[w²] − E[x]²E[w]²) = conv(E[x²], E[w²]) − conv(E[x]², E[w]²).
    The border is the constant ``pad_value``: E[x] = pad_value and E[x²] = pad_value² there.

    mx, ex2 : (B, H, W, C) input mean and second moment; mw, ew2 : (O, k, k, C) weight mean and second moment.
    Returns (mean, var) (B, H, W, O), the variance clipped at 0 against rounding.
    """
    mean, _ = conv2d_forward(mx, mw, pad_value)
    second, _ = conv2d_forward(ex2, ew2, pad_value * pad_value)
    sq, _ = conv2d_forward(mx * mx, mw * mw, pad_value * pad_value)
    return mean, np.maximum(second - sq, 0)


# ------------------------------------------------------------------------------------------------ max-pooling
class PoolCache(NamedTuple):
    first: np.ndarray         # (4, B, H/2, W/2, C) bool: window element q is the first maximum of its window
    shape: tuple              # (B, H, W, C) of the input


def _quarters(x: np.ndarray) -> list:
    """The four strided views x[:, di::2, dj::2, :] in window order (0,0), (0,1), (1,0), (1,1) (no copies)."""
    b, h, w, c = x.shape
    if h % 2 or w % 2:
        raise ValueError(f"2x2 max-pooling needs even height and width, got {h}x{w}")
    v = x.reshape(b, h // 2, 2, w // 2, 2, c)
    return [v[:, :, di, :, dj, :] for di in (0, 1) for dj in (0, 1)]


def maxpool2_forward(x: np.ndarray):
    """2x2 max-pooling, stride 2: (B, H, W, C) -> (B, H/2, W/2, C). On ±1 activations this is the OR of the
    four bits (bit 1 = +1), which is how a deployment computes it. Ties: the first maximum (in window order)
    takes the gradient. Elementwise over the four strided quarter views: no transposed copy of the input."""
    q = _quarters(x)
    y = np.maximum(np.maximum(q[0], q[1]), np.maximum(q[2], q[3]))
    first = np.empty((4,) + y.shape, dtype=bool)
    taken = np.equal(q[0], y, out=first[0])
    for i in (1, 2, 3):
        np.equal(q[i], y, out=first[i])
        first[i] &= ~taken
        taken = taken | first[i]
    return y, PoolCache(first, x.shape)


def maxpool2_backward(g: np.ndarray, cache: PoolCache) -> np.ndarray:
    """Route each pooled gradient to its window's first maximum (the other three positions get 0)."""
    gx = np.empty(cache.shape, dtype=g.dtype)
    for q, sel in zip(_quarters(gx), cache.first):
        np.multiply(g, sel, out=q)
    return gx


def maxpool2_pm1_moments(m: np.ndarray) -> np.ndarray:
    """Mean of the 2x2 max of independent ±1 units with means ``m`` (B, H, W, C) (probabilistic forward pass).

    The max of ±1 values is −1 only when all four are −1: P(max = −1) = Π_i (1 − m_i)/2 under independence,
    so E[max] = 1 − 2 Π_i (1 − m_i)/2. This is exact for independent inputs, and it is the pooling the
    deployment computes (OR of bits), which is why the binary networks pool *after* the sign activation.
    The variance of a ±1 unit is 1 − mean², so it needs no separate propagation.
    """
    # on the four strided quarter views (no transposed copy); ((q0 q1) q2) q3 is the order of a product over
    # the window axis
    prod = None
    for v in _quarters(m):
        q = np.subtract(1.0, v)
        q *= 0.5
        if prod is None:
            prod = q
        else:
            prod *= q
    prod *= -2.0                               # 1 − 2 Π, as 1 + (−2 Π): −(2p) = (−2)p exactly
    prod += 1.0
    return prod


# ---------------------------------------------------------------------------------------------------- flatten
def flatten_forward(x: np.ndarray):
    """(B, H, W, C) -> (B, H*W*C) in (row, column, channel) order, the order of the dense layer's packed K."""
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(g: np.ndarray, shape: tuple) -> np.ndarray:
    return g.reshape(shape)
