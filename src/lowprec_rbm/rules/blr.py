"""The Bayesian learning rule (BLR) for mean-field Bernoulli posteriors over ±1 weights (Meng 2020).

Parameters are natural parameters λ (m = tanh λ). With g = ∇_m E_q[ln p(D|W)] at m = tanh λ and a Bernoulli
prior of natural parameter λ0, the rule is

    λ <- (1 - ρ) λ + ρ (λ0 + g)  =  λ + ρ (λ0 + g - λ)

because ∇_m KL(q||p0) = λ - λ0 and the Fisher matrix of the family is 1 - m², so the natural gradient of the
ELBO in λ is the ordinary gradient in m. λ ranges over the whole real line: no clipping anywhere.
"""
from __future__ import annotations

from typing import NamedTuple

from lowprec_rbm.rules.base import (
    GradientTransformation, ScalarOrSchedule, chain, scale_by_learning_rate, trace, tree_map,
)

__all__ = ["natural_gradient", "blr"]


class NaturalGradientState(NamedTuple):
    """Stateless."""


def natural_gradient(lam0: float = 0.0) -> GradientTransformation:
    """Turn likelihood gradients g (wrt m) into the BLR direction ``λ0 + g - λ`` (params are λ)."""

    def update(grads, state, params):
        return tree_map(lambda g, lam: lam0 + g - lam, grads, params), state

    return GradientTransformation(lambda params: NaturalGradientState(), update)


def blr(learning_rate: ScalarOrSchedule = 0.1, lam0: float = 0.0, momentum: float = 0.0) -> GradientTransformation:
    """The BLR: ``λ <- λ + ρ (λ0 + g - λ)``, optionally with heavy-ball momentum on the direction.

    Parameters
    ----------
    learning_rate : float, array or schedule
        ρ in (0, 1] for a convex combination; a schedule is called with the update count.
    lam0 : float
        Natural parameter of the Bernoulli prior (0 = uniform).
    momentum : float in [0, 1)
        Momentum decay (0 = none).
    """
    parts = [natural_gradient(lam0)]
    if momentum:
        parts.append(trace(momentum))
    parts.append(scale_by_learning_rate(learning_rate))
    return chain(*parts)
