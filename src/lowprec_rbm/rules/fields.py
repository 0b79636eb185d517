"""Natural-gradient update of the RBM's real fields (biases): the mean step of a Gaussian BLR.

Model: p(σ, h | W, b, c) ∝ exp(β[σᵀWh/√N + bᵀσ + cᵀh]). The weights W keep their Bernoulli posterior and the
BLR (:func:`lowprec_rbm.rules.blr`); the fields θ = (b, c) are real.

Derivation. Give θ a Gaussian posterior q(θ) = N(μ, S⁻¹) (diagonal precision S) and a Gaussian prior N(0, τ0⁻¹).
The Bayesian learning rule in the natural parameters (Sμ, -S/2) of q, with step ρ, reads (Khan & Rue, the
"variational online Newton" form)

    S_{t+1} = (1 - ρ) S_t + ρ (τ0 + E_q[-∇²_θ ℓ])
    μ_{t+1} = μ_t + ρ S_{t+1}⁻¹ (E_q[∇_θ ℓ] - τ0 μ_t)

with ℓ = E_q(W) ln p(D | W, θ) (the same data + log-partition estimate the weights use). Two approximations
make it a point-estimate update:

1. E_q[∇ℓ] ≈ ∇ℓ(μ) (plug-in). The posterior variance S⁻¹ is O(1/M) (S grows like the number of patterns M),
   so the correction is O(1/M) per field; the deployable fields are μ.
2. The expected negative Hessian is replaced by a positive diagonal surrogate F, the Fisher information of the
   fields. For the visible fields the model is an exponential family in b, and -∇²_b ln p(D) = Mβ² Cov_model(σ)
   exactly (diagonal: Mβ²(1 - <σ_i>²)); for the hidden fields, whose units are latent, -∇²_c ln p(D) = Mβ²
   [Var_model(h_a) - mean_s Var(h_a | σ^s)] is not sign-definite, and the Fisher Mβ² Var_model(h_a) is its
   usual positive stand-in (Gauss-Newton). To keep the step bounded when the model saturates a unit before the
   data do (Var_model -> 0 while the data still vary), the model and data variances are averaged:

       F_j = Mβ² (v_model,j + v_data,j) / 2

   (v_data: 1 - (batch mean σ_i)² for b_i; the batch mean of Var(h_a | σ) = <1 - tanh²> for c_a). Near a
   stationary point v_model ≈ v_data, so F is the Fisher there. With ∇_b ℓ = Mβ(<σ>_data - <σ>_model), the
   step is then ≈ ρ (<σ>_data - <σ>_model) / (β (v_model + v_data)/2): for an independent unit it is Newton's
   step on the field (Δ atanh(<σ>)/β to first order), so ρ near 1 is stable whatever M, β and the data scale,
   unlike a plain gradient step (whose stable rate shrinks like 1/M).

The prior τ0 is a weak L2 pull (a pixel that is -1 in every pattern keeps a finite field ≈ -ln(2Mβ/(τ0|b|))/2β
instead of drifting to -∞). The precision S is state; μ is the parameter the model uses.

Interface: ``state = init(mu)``; ``mu, state = update(grad, fisher, state, mu)`` with ``grad`` ∇ℓ(μ) and ``fisher``
F (arrays or tuples of arrays of μ's shapes). It is not a GradientTransformation: the update needs F.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from lowprec_rbm.rules.base import tree_map

__all__ = ["FieldState", "FieldRule", "field_natural_gradient", "field_fisher"]


class FieldState(NamedTuple):
    """Precision S of q(θ) (same tree as μ; None before the first step) and the step count."""

    precision: object
    step: int


class FieldRule(NamedTuple):
    init: Callable
    update: Callable


def field_fisher(n_total: int, beta: float, var_model: np.ndarray, var_data: np.ndarray) -> np.ndarray:
    """F = M β² (v_model + v_data) / 2 (module doc)."""
    return (n_total * beta ** 2 / 2.0) * (np.asarray(var_model) + np.asarray(var_data))


def field_natural_gradient(rate: float | Callable[[int], float], prior_precision: float) -> FieldRule:
    """The Gaussian-BLR mean step for real fields (module doc).

    Parameters
    ----------
    rate : float or callable
        ρ in (0, 1], or a schedule ``step -> ρ``.
    prior_precision : float
        τ0 > 0 of the Gaussian prior N(0, τ0⁻¹) on every field.
    """
    tau0 = float(prior_precision)
    if not tau0 > 0:
        raise ValueError(f"prior_precision must be > 0, got {prior_precision}")

    def init(mu) -> FieldState:
        return FieldState(None, 0)

    def update(grad, fisher, state: FieldState, mu):
        rho = float(rate(state.step) if callable(rate) else rate)
        if state.precision is None:     # first step: S_1 = τ0 + F (the ρ-average of nothing)
            prec = tree_map(lambda f: tau0 + f, fisher)
        else:
            prec = tree_map(lambda s, f: (1.0 - rho) * s + rho * (tau0 + f), state.precision, fisher)
        new = tree_map(lambda m, g, s: m + rho * (g - tau0 * m) / s, mu, grad, prec)
        return new, FieldState(prec, state.step + 1)

    return FieldRule(init, update)
