"""Huang's variational mean-field rule (Huang 2020): gradient ascent on the means m, clipped to ±(1 - ε).

With g = ∇_m E_q[ln p(D|W)] and a prior of natural parameter λ0, the ELBO gradient in m is
``g - (atanh m - λ0)``. The step ``m <- clip(m + η d, -(1-ε), 1-ε)`` uses d = that gradient, optionally
rescaled by Adam (the third-party code the seed note describes uses Adam: lr 0.1-0.4, b1 0.9, b2 0.99, eps 1e-8,
clip 0.99999). Parameters are still natural parameters λ = atanh m; the last transformation maps the
clipped step in m to an update of λ. The BLR is this rule's exact version: to first order in ρ,
``tanh(λ + ρ d) = m + ρ (1 - m²) d``, i.e. Huang's step with η = ρ (1 - m²) and no clipping needed.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lowprec_rbm.rules.base import (
    GradientTransformation, ScalarOrSchedule, chain, scale_by_adam, scale_by_learning_rate, trace, tree_map,
)

__all__ = ["mean_gradient", "clipped_mean_step", "huang"]


class _Stateless(NamedTuple):
    """Stateless."""


def mean_gradient(lam0: float = 0.0) -> GradientTransformation:
    """Turn likelihood gradients g (wrt m) into the ELBO gradient in m: ``g - (λ - λ0)`` (params are λ)."""

    def update(grads, state, params):
        return tree_map(lambda g, lam: g - (lam - lam0), grads, params), state

    return GradientTransformation(lambda params: _Stateless(), update)


def clipped_mean_step(eps: float = 1e-5) -> GradientTransformation:
    """Map a step Δm on the means to an update of λ: ``atanh(clip(tanh λ + Δm, ±(1-ε))) - λ``."""
    if not 0.0 < float(eps) < 1.0:
        raise ValueError(f"clipping eps must be in (0, 1), got {eps}")
    bound = 1.0 - float(eps)

    def update(delta_m, state, params):
        return tree_map(lambda d, lam: np.arctanh(np.clip(np.tanh(lam) + d, -bound, bound)) - lam,
                        delta_m, params), state

    return GradientTransformation(lambda params: _Stateless(), update)


def huang(learning_rate: ScalarOrSchedule = 0.1, eps: float = 1e-5, adam: bool = True, b1: float = 0.9,
          b2: float = 0.99, adam_eps: float = 1e-8, momentum: float = 0.0, lam0: float = 0.0
          ) -> GradientTransformation:
    """Clipped gradient ascent on m (optionally Adam or momentum), returned as updates of λ = atanh m.

    Parameters
    ----------
    learning_rate : float, array or schedule
        η (the Adam step size when ``adam``).
    eps : float
        Means are clipped to ±(1 - eps).
    adam : bool
        Rescale the gradient by Adam (b1, b2, adam_eps) before the learning rate.
    momentum : float in [0, 1)
        Heavy-ball momentum (used with or instead of Adam).
    lam0 : float
        Natural parameter of the Bernoulli prior (0 = uniform).
    """
    parts = [mean_gradient(lam0)]
    if adam:
        parts.append(scale_by_adam(b1, b2, adam_eps))
    if momentum:
        parts.append(trace(momentum))
    parts += [scale_by_learning_rate(learning_rate), clipped_mean_step(eps)]
    return chain(*parts)
