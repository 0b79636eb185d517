"""Adam on real weights: the full-precision baseline (and the optimiser of STE's latent weights).

In the rules' ascent convention (:mod:`lowprec_rbm.rules`), ``params`` are real weight matrices and ``grads``
the gradient of the mean log-likelihood per example (the negative of the batch-mean loss gradient); Adam is
invariant to that scale up to its ``eps``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from lowprec_rbm.rules.base import GradientTransformation, ScalarOrSchedule, chain, scale_by_adam, \
    scale_by_learning_rate

__all__ = ["glorot_uniform", "adam"]


def glorot_uniform(shapes: Sequence[tuple[int, int]], rng: np.random.Generator, gain: float = 6.0
                   ) -> list[np.ndarray]:
    """``U(−b, b)`` with ``b = sqrt(gain / (fan_in + fan_out))`` per (out, in) matrix, float32.

    ``gain = 6`` is Glorot's uniform initialisation; the published STE baseline uses ``gain = 1.5``.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    out = []
    for fan_out, fan_in in shapes:
        b = np.sqrt(gain / (fan_in + fan_out))
        out.append(rng.uniform(-b, b, size=(fan_out, fan_in)).astype(np.float32))
    return out


def adam(learning_rate: ScalarOrSchedule = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
         ) -> GradientTransformation:
    """Adam (Kingma & Ba) with bias correction: ``w <- w + lr · m̂ / (sqrt(v̂) + eps)`` (ascent)."""
    return chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(learning_rate))
