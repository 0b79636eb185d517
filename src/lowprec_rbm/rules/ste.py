"""Straight-through estimator (STE) baseline for ±1 weights: latent real weights, sign forward, Adam, clipping.

The forward pass uses ``w_b = sign(w)`` (``sign(0) = +1``); the gradient w.r.t. ``w_b`` is passed straight through
to the latent ``w``, which Adam updates and which is then clipped to ``[−1, 1]`` (as BinaryConnect and the
BayesBiNN paper's STE baseline). Latent weights start Glorot-uniform with ``b = sqrt(1.5/(fan_in + fan_out))``.
Ascent convention: ``grads`` are the negative batch-mean loss gradients at ``w_b``.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from lowprec_rbm.posterior import signs
from lowprec_rbm.rules.adam import glorot_uniform
from lowprec_rbm.rules.base import GradientTransformation, ScalarOrSchedule, chain, scale_by_adam, \
    scale_by_learning_rate, tree_map

__all__ = ["init_latent", "binarize_latent", "clip_params", "ste"]


def init_latent(shapes: Sequence[tuple[int, int]], rng: np.random.Generator) -> list[np.ndarray]:
    """Latent weights ``U(−b, b)``, ``b = sqrt(1.5 / (fan_in + fan_out))`` (the published STE baseline)."""
    return glorot_uniform(shapes, rng, gain=1.5)


def binarize_latent(w: np.ndarray) -> np.ndarray:
    """``sign(w)`` as float32 with ``sign(0) = +1``."""
    return signs(np.asarray(w, dtype=np.float32))


class _Empty(NamedTuple):
    """Stateless."""


def clip_params(low: float = -1.0, high: float = 1.0) -> GradientTransformation:
    """Replace an update ``u`` by ``clip(p + u, low, high) − p`` so that the new parameters stay in range."""
    if not float(low) < float(high):
        raise ValueError(f"clip range must have low < high, got [{low}, {high}]")
    lo, hi = np.float32(low), np.float32(high)

    def update(updates, state, params):
        return tree_map(lambda u, p: np.clip(p + u, lo, hi) - p, updates, params), state

    return GradientTransformation(lambda params: _Empty(), update)


def ste(learning_rate: ScalarOrSchedule = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
        clip: float = 1.0) -> GradientTransformation:
    """Adam on the latent weights followed by clipping to ``[−clip, clip]``."""
    if not float(clip) > 0:
        raise ValueError(f"clip must be > 0, got {clip}")
    return chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(learning_rate), clip_params(-clip, clip))
