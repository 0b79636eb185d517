"""Feed-forward layers as forward/backward function pairs (vectorised over the batch, dtype-generic).

Every forward function returns ``(output, cache)``; the matching backward takes ``(grad_output, cache)`` and
returns the gradients. Weights are passed in (they are not owned by the layers), because the learning rules
decide which weights a forward pass sees: a relaxed sample (BayesBiNN), ``sign`` of latent weights (STE) or
real weights (Adam). Shapes: a batch of inputs is ``(B, in)``, a weight matrix ``(out, in)``.

The model casts everything to float32; the functions keep the dtype they are given, so the tests check the
hand-written backward passes against central differences in float64.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lowprec_rbm.posterior import signs

__all__ = [
    "dense_forward", "dense_backward",
    "BatchNormCache", "batchnorm_forward", "batchnorm_backward", "batchnorm_eval",
    "relu_forward", "relu_backward",
    "sign_forward", "sign_backward",
    "dropout_forward", "dropout_backward",
    "softmax", "log_softmax", "softmax_cross_entropy",
]


# ---------------------------------------------------------------------------------------------- dense (no bias)
def dense_forward(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``a = x W^T``: x (B, in), w (out, in) -> a (B, out). The cache is ``x`` itself."""
    return x @ w.T


def dense_backward(g: np.ndarray, x: np.ndarray, w: np.ndarray, need_input_grad: bool = True):
    """Gradients of ``a = x W^T``: ``dW = g^T x`` (out, in) and ``dx = g W`` (B, in) (None if not needed)."""
    gw = g.T @ x
    gx = g @ w if need_input_grad else None
    return gx, gw


# ------------------------------------------------------------------------------- batch norm without affine
class BatchNormCache(NamedTuple):
    xhat: np.ndarray   # (B, F) normalised output
    rstd: np.ndarray   # (F,) 1 / sqrt(var + eps)


def batchnorm_forward(a: np.ndarray, eps: float):
    """Training-mode batch norm without affine parameters.

    ``xhat = (a - mean_B) / sqrt(var_B + eps)`` with the biased batch variance (as in PyTorch training mode).

    Returns
    -------
    xhat : (B, F)
    cache : BatchNormCache
    batch_mean, batch_var : (F,) the batch statistics (biased variance), for the running averages.
    """
    mean = a.mean(axis=0)
    c = a - mean
    var = np.mean(c * c, axis=0)
    rstd = 1.0 / np.sqrt(var + a.dtype.type(eps))
    xhat = c * rstd
    return xhat, BatchNormCache(xhat, rstd), mean, var


def batchnorm_backward(g: np.ndarray, cache: BatchNormCache) -> np.ndarray:
    """Gradient through training-mode batch norm.

    With ``xhat = (a - m) r``, ``m`` the batch mean and ``r = (v + eps)^(-1/2)``:
    ``da = r (g - mean(g) - xhat mean(g xhat))`` (the mean and variance depend on every row).
    """
    xhat, rstd = cache
    gx = g * xhat
    mean_gx = gx.mean(axis=0)
    # the same float32 operations in the same order as rstd * ((g - mean(g)) - xhat * mean_gx), in place
    np.subtract(g, g.mean(axis=0), out=gx)
    gx -= xhat * mean_gx
    gx *= rstd
    return gx


def batchnorm_eval(a: np.ndarray, mean: np.ndarray, var: np.ndarray, eps: float) -> np.ndarray:
    """Evaluation-mode batch norm with fixed statistics: ``(a - mean) / sqrt(var + eps)``."""
    dt = a.dtype
    return (a - mean.astype(dt)) / np.sqrt(var.astype(dt) + dt.type(eps))


# ------------------------------------------------------------------------------------------------ activations
def relu_forward(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0)


def relu_backward(g: np.ndarray, z: np.ndarray) -> np.ndarray:
    return g * (z > 0)


def sign_forward(z: np.ndarray) -> np.ndarray:
    """``sign`` with ``sign(0) = +1`` (bit layout v1), same dtype as ``z``."""
    return signs(z)


def sign_backward(g: np.ndarray, z: np.ndarray, window: float = 1.0) -> np.ndarray:
    """Straight-through gradient of ``sign``: the gradient of hard-tanh, i.e. ``g`` where ``|z| <= window``."""
    return g * (np.abs(z) <= window)


def dropout_forward(x: np.ndarray, rate: float, rng: np.random.Generator):
    """Inverted dropout: zero each unit with probability ``rate`` and scale the rest by ``1/(1-rate)``.

    Returns ``(y, mask)`` where ``mask`` already holds the scale (0 or 1/(1-rate)); ``mask`` is None when
    ``rate == 0``.
    """
    if rate <= 0.0:
        return x, None
    keep = 1.0 - rate
    mask = (rng.random(x.shape, dtype=np.float32) < keep).astype(x.dtype) / x.dtype.type(keep)
    return x * mask, mask


def dropout_backward(g: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return g if mask is None else g * mask


# ------------------------------------------------------------------------------------- softmax cross-entropy
def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise ``log softmax`` (shifted by the row maximum, so no overflow)."""
    s = z - z.max(axis=1, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(z))


def softmax_cross_entropy(z: np.ndarray, y: np.ndarray):
    """Mean cross-entropy of logits ``z`` (B, K) against integer labels ``y`` (B,), and its gradient.

    ``d/dz mean_b(-log softmax(z_b)[y_b]) = (softmax(z) - onehot(y)) / B``.

    Returns
    -------
    loss : float
    grad : (B, K)
    probs : (B, K) softmax(z)
    """
    ls = log_softmax(z)
    b = z.shape[0]
    rows = np.arange(b)
    loss = -float(np.mean(ls[rows, y]))
    p = np.exp(ls)
    grad = p.copy()
    grad[rows, y] -= 1
    grad /= z.dtype.type(b)
    return loss, grad, p
