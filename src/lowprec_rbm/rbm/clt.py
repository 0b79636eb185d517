"""Data term of the ELBO by the central-limit (Gaussian-field) approximation.

Under q(W) = Π (1 + m W)/2 the field X_a(σ) = Σ_i W_ia σ_i / √N of a data pattern σ is a sum of N independent
terms: mean G_a = Σ_i m_ia σ_i / √N and variance Ξ_a² = Σ_i (1 - m_ia²) / N (independent of σ since σ_i² = 1).
Replacing it by a Gaussian,

    E_q ln 2cosh(β X_a) ≈ ∫Dz ln 2cosh(β (G_a + Ξ_a z)) =: φ(G_a, Ξ_a),

    ∂φ/∂m_ia = (β/√N) σ_i <tanh(β(G_a + Ξ_a z))>_z  -  (β² m_ia / N) <1 - tanh²(β(G_a + Ξ_a z))>_z

where the second term is the dependence of Ξ_a on m (∂Ξ_a/∂m_ia = -m_ia/(N Ξ_a)) turned into a second
derivative by Stein's lemma ∫Dz z f'(G + Ξz) = Ξ ∫Dz f''(G + Ξz). The z-integral is Gauss-Hermite quadrature
(deterministic; ln 2cosh is smooth, so a few dozen nodes are accurate to ~1e-8).

With fields (p(σ, h) ∝ exp(β[σᵀWh/√N + bᵀσ + cᵀh])) the data term of a pattern is β bᵀσ + Σ_a E_q ln
2cosh(β(X_a + c_a)): the hidden field only shifts the Gaussian's mean, G_a -> G_a + c_a, so the formula above
holds with that mean, and ∂/∂c_a = β <tanh(β(G_a + c_a + Ξ_a z))>_z, ∂/∂b_i = β σ_i (exact: linear in b).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lowprec_rbm.vecmath import log2cosh

__all__ = ["gauss_hermite", "field_std", "data_term", "data_term_fields", "DataTerm"]


def gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of n-point quadrature for the standard normal measure (weights sum to 1)."""
    if int(n) < 1:
        raise ValueError(f"number of quadrature nodes must be >= 1, got {n}")
    x, w = np.polynomial.hermite_e.hermegauss(int(n))
    return x, w / w.sum()


def field_std(m: np.ndarray) -> np.ndarray:
    """Ξ_a = sqrt(Σ_i (1 - m_ia²) / N), shape (P,)."""
    return np.sqrt(np.maximum(np.mean(1.0 - m * m, axis=0), 0.0))


class DataTerm(NamedTuple):
    """The CLT data term and its gradients: ``value``; ``grad`` wrt m (N, P); ``grad_visible`` (N,) and
    ``grad_hidden`` (P,) wrt the fields b, c; ``var_visible`` (N,) = 1 - (batch mean of σ)², ``var_hidden``
    (P,) = batch mean of <1 - tanh²> (the data-side variances the field update uses). Gradients None without
    ``grad``."""

    value: float
    grad: np.ndarray | None
    grad_visible: np.ndarray | None
    grad_hidden: np.ndarray | None
    var_visible: np.ndarray | None
    var_hidden: np.ndarray | None


def data_term(X: np.ndarray, m: np.ndarray, beta: float, n_quad: int = 24, *, grad: bool = True,
              chunk: int = 1024) -> tuple[float, np.ndarray | None]:
    """Σ_s Σ_a E_q ln 2cosh(β X_a(σ^s)) by the CLT, and its gradient wrt m (no fields).

    Parameters
    ----------
    X : ndarray, shape (M, N)
        ±1 data (any numeric dtype).
    m : ndarray of float, shape (N, P)
        Posterior means.
    beta : float
        Inverse temperature.
    n_quad : int
        Gauss-Hermite nodes for the z-average.
    grad : bool
        Also return the gradient (N, P); else None.
    chunk : int
        Patterns processed at once (memory ~ chunk * P * n_quad floats).

    Returns
    -------
    value : float
    gradient : ndarray of shape (N, P) or None
    """
    out = data_term_fields(X, m, beta, n_quad, grad=grad, chunk=chunk)
    return out.value, out.grad


def data_term_fields(X: np.ndarray, m: np.ndarray, beta: float, n_quad: int = 24, *, grad: bool = True,
                     chunk: int = 1024, visible_field: np.ndarray | None = None,
                     hidden_field: np.ndarray | None = None) -> DataTerm:
    """Σ_s [β bᵀσ^s + Σ_a E_q ln 2cosh(β(X_a(σ^s) + c_a))] by the CLT, with gradients (:class:`DataTerm`).

    ``visible_field`` b (N,) and ``hidden_field`` c (P,) default to zero; the other arguments as
    :func:`data_term`.
    """
    N, P = m.shape
    c = np.zeros(P) if hidden_field is None else np.asarray(hidden_field, dtype=np.float64)
    if c.shape != (P,):
        raise ValueError(f"hidden_field must have shape (P,) = ({P},), got {c.shape}")
    x, w = gauss_hermite(n_quad)
    xi = field_std(m)
    sq = np.sqrt(N)
    value = 0.0
    g_sigma = np.zeros_like(m) if grad else None   # Σ_s σ_i <tanh>_as
    g_hidden = np.zeros(P)                           # Σ_s <tanh>_as
    curv = np.zeros(P)                               # Σ_s <1 - tanh²>_as
    x_sum = np.zeros(N)                              # Σ_s σ_i
    for lo in range(0, X.shape[0], chunk):
        Xc = np.asarray(X[lo:lo + chunk], dtype=np.float64)
        x_sum += Xc.sum(axis=0)
        G = Xc @ m / sq + c                                        # (B, P)
        A = beta * (G[:, :, None] + xi[None, :, None] * x)         # (B, P, n)
        value += float(np.sum(log2cosh(A) @ w))
        if grad:
            T = np.tanh(A)
            Tw = T @ w
            g_sigma += Xc.T @ Tw
            g_hidden += Tw.sum(axis=0)
            curv += np.sum((1.0 - T * T) @ w, axis=0)
    if visible_field is not None:
        b = np.asarray(visible_field, dtype=np.float64)
        if b.shape != (N,):
            raise ValueError(f"visible_field must have shape (N,) = ({N},), got {b.shape}")
        value += beta * float(b @ x_sum)
    if not grad:
        return DataTerm(value, None, None, None, None, None)
    M = X.shape[0]
    return DataTerm(value, (beta / sq) * g_sigma - (beta ** 2 / N) * m * curv[None, :], beta * x_sum,
                    beta * g_hidden, 1.0 - (x_sum / M) ** 2, curv / M)
