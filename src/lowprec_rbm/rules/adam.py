"""Adam on real weights: the full-precision baseline (and the optimiser of STE's latent weights).

In the rules' ascent convention (:mod:`lowprec_rbm.rules`), ``params`` are real weight matrices and ``grads``
the gradient of the mean log-likelihood per example (the negative of the batch-mean loss gradient); Adam is
invariant to that scale up to its ``eps``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from lowprec_rbm.rules.base import GradientTransformation, ScalarOrSchedule, chain, scale_by_adam, \
    scale_by_learning_rate

__all__ = ["fans", "glorot_uniform", "adam"]


def fans(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a dense (out, in) or conv (out, k, k, in) weight array (PyTorch's convention:
    a conv's fans count the kernel window, ``fan_in = k·k·in``, ``fan_out = out·k·k``)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        return shape[1], shape[0]
    window = int(np.prod(shape[1:-1]))
    return window * shape[-1], shape[0] * window


def glorot_uniform(shapes: Sequence[tuple[int, ...]], rng: np.random.Generator, gain: float = 6.0,
                   dtype: Any = np.float32) -> list[np.ndarray]:
    """``U(−b, b)`` with ``b = sqrt(gain / (fan_in + fan_out))`` per weight array (:func:`fans`), of ``dtype``
    (float32 by default; the draws are float64, so ``dtype=np.float64`` keeps them unrounded).

    ``gain = 6`` is Glorot's uniform initialisation; the published STE baseline uses ``gain = 1.5``.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    out = []
    for shape in shapes:
        fan_in, fan_out = fans(shape)
        b = np.sqrt(gain / (fan_in + fan_out))
        out.append(rng.uniform(-b, b, size=tuple(shape)).astype(dtype))
    return out


def adam(learning_rate: ScalarOrSchedule = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
         ) -> GradientTransformation:
    """Adam (Kingma & Ba) with bias correction: ``w <- w + lr · m̂ / (sqrt(v̂) + eps)`` (ascent)."""
    return chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(learning_rate))
