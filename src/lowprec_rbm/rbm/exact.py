"""Exact quantities of tiny binary-synapse RBMs by enumeration (the ground truth for the approximations).

Model: p(σ, h | W) ∝ exp((β/√N) Σ_ia σ_i W_ia h_a), σ ∈ {±1}^N, h ∈ {±1}^P. Summing out h,
p(σ|W) = Π_a 2cosh(β X_a(σ)) / Z(W) with X_a(σ) = Σ_i W_ia σ_i / √N.

The "dual" model of the E-step is the same RBM with real couplings J (N, P) and hidden fields θ (P,):
Z(J, θ) = Σ_σ Π_a 2cosh(Σ_i J_ia σ_i + θ_a); the binary model is J = βW/√N, θ = 0.

With fields, p(σ, h | W, b, c) ∝ exp(β[σᵀWh/√N + bᵀσ + cᵀh]) and p(σ|W) = e^{βbᵀσ} Π_a 2cosh(β(X_a(σ) +
c_a)) / Z; the dual model gets visible local fields φ: Z(J, θ, φ) = Σ_σ e^{φᵀσ} Π_a 2cosh(Σ_i J_ia σ_i + θ_a).

Visible states are enumerated (2^N, N ≤ 20). Expectations over the mean-field posterior q(W) enumerate all
2^(N·P) weight matrices when N·P ≤ 16, and fall back to Monte Carlo with a standard error beyond.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from lowprec_rbm.posterior import log2cosh

__all__ = [
    "all_states", "dual_log_partition", "dual_moments", "log_partition", "log_likelihood",
    "correlations", "QExpectation", "q_expectation", "MAX_ENUM_VISIBLE", "MAX_ENUM_WEIGHTS",
]

MAX_ENUM_VISIBLE = 20
MAX_ENUM_WEIGHTS = 16


def all_states(n: int) -> np.ndarray:
    """All 2^n configurations of n ±1 units, int8 of shape (2^n, n) (row k is the binary expansion of k)."""
    if not 0 <= n <= MAX_ENUM_VISIBLE:
        raise ValueError(f"enumeration needs 0 <= n <= {MAX_ENUM_VISIBLE} units, got {n}")
    bits = (np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]) & 1
    return (2 * bits - 1).astype(np.int8)


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    top = a.max(axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.exp(a - top).sum(axis=axis))


def _fields(J: np.ndarray, theta: np.ndarray | None,
            phi: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    J = np.asarray(J, dtype=np.float64)
    if J.ndim != 2:
        raise ValueError(f"couplings must have shape (N, P), got {J.shape}")
    S = all_states(J.shape[0]).astype(np.float64)
    F = S @ J                                     # (2^N, P) hidden fields of each visible state
    if theta is not None:
        F = F + np.asarray(theta, dtype=np.float64)[None, :]
    logw = log2cosh(F).sum(axis=1)                # ln of each visible state's unnormalised weight
    if phi is not None:
        logw = logw + S @ np.asarray(phi, dtype=np.float64)
    return S, F, logw


def dual_log_partition(J: np.ndarray, theta: np.ndarray | None = None, phi: np.ndarray | None = None) -> float:
    """ln Σ_σ e^{φᵀσ} Π_a 2cosh(Σ_i J_ia σ_i + θ_a), by enumerating the 2^N visible states."""
    _, _, logw = _fields(J, theta, phi)
    return float(_logsumexp(logw, axis=0))


def dual_moments(J: np.ndarray, theta: np.ndarray | None = None,
                 phi: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Exact moments of the dual model: ``sigma`` <σ_i> (N,), ``h`` <h_a> (P,), ``sigma_h`` <σ_i h_a> (N, P)."""
    S, F, logw = _fields(J, theta, phi)
    p = np.exp(logw - logw.max())
    p /= p.sum()
    T = np.tanh(F)                                # <h_a | σ>
    return {"sigma": p @ S, "h": p @ T, "sigma_h": (S * p[:, None]).T @ T}


def _binary_fields(W: np.ndarray, beta: float) -> tuple[np.ndarray, bool]:
    W = np.asarray(W, dtype=np.float64)
    single = W.ndim == 2
    if W.ndim not in (2, 3):
        raise ValueError(f"weights must have shape (N, P) or (B, N, P), got {W.shape}")
    return (W[None] if single else W) * (beta / np.sqrt(W.shape[-2])), single


def _unnormalised(S: np.ndarray, J: np.ndarray, beta: float, visible_field, hidden_field) -> np.ndarray:
    """ln of e^{βbᵀσ} Π_a 2cosh(β(X_a(σ) + c_a)) for states S (s, N) and scaled weights J (B, N, P): (B, s)."""
    F = np.einsum("sn,bnp->bsp", S, J)
    if hidden_field is not None:
        F = F + beta * np.asarray(hidden_field, dtype=np.float64)
    out = log2cosh(F).sum(axis=2)
    if visible_field is not None:
        out = out + beta * (S @ np.asarray(visible_field, dtype=np.float64))[None, :]
    return out


def log_partition(W: np.ndarray, beta: float = 1.0, *, visible_field: np.ndarray | None = None,
                  hidden_field: np.ndarray | None = None) -> float | np.ndarray:
    """ln Z(W) of the binary-synapse RBM; W ±1 of shape (N, P), or (B, N, P) for a batch (returns (B,)).
    Optional fields b (N,), c (P,) (module doc)."""
    J, single = _binary_fields(W, beta)
    S = all_states(J.shape[1]).astype(np.float64)
    out = _logsumexp(_unnormalised(S, J, beta, visible_field, hidden_field), axis=1)
    return float(out[0]) if single else out


def log_likelihood(X: np.ndarray, W: np.ndarray, beta: float = 1.0, *, visible_field: np.ndarray | None = None,
                   hidden_field: np.ndarray | None = None) -> float | np.ndarray:
    """Σ_s ln p(σ^s | W) for data X (M, N) of ±1; W (N, P) or a batch (B, N, P); optional fields b, c."""
    J, single = _binary_fields(W, beta)
    X = np.asarray(X, dtype=np.float64)
    data = _unnormalised(X, J, beta, visible_field, hidden_field).sum(axis=1)
    out = data - X.shape[0] * np.atleast_1d(log_partition(W if not single else W[None], beta,
                                                          visible_field=visible_field, hidden_field=hidden_field))
    return float(out[0]) if single else out


def correlations(W: np.ndarray, beta: float = 1.0, *, visible_field: np.ndarray | None = None,
                 hidden_field: np.ndarray | None = None) -> np.ndarray:
    """<σ_i h_a> under p(σ, h | W, b, c), shape (N, P)."""
    W = np.asarray(W, dtype=np.float64)
    theta = None if hidden_field is None else beta * np.asarray(hidden_field, dtype=np.float64)
    phi = None if visible_field is None else beta * np.asarray(visible_field, dtype=np.float64)
    return dual_moments(beta * W / np.sqrt(W.shape[0]), theta, phi)["sigma_h"]


class QExpectation(NamedTuple):
    """E_q[f(W)], its gradient wrt the means m, and standard errors (0 when exact)."""

    value: float
    grad: np.ndarray
    value_se: float
    grad_se: np.ndarray
    exact: bool


def q_expectation(fn: Callable[[np.ndarray], np.ndarray], m: np.ndarray, *,
                  rng: np.random.Generator | None = None, n_samples: int = 4000,
                  max_enum: int = MAX_ENUM_WEIGHTS, chunk: int = 2048) -> QExpectation:
    """E_q[fn(W)] under q(W) = Π (1 + m W)/2, and ∂/∂m of it.

    ``fn`` is vectorised: it maps a batch of weights (B, N, P) to values (B,).
    The gradient uses ∂q(W)/∂m_ia = q(W) W_ia / (1 + m_ia W_ia), so ∂E_q f/∂m_ia = E_q[f(W) W_ia/(1 + m_ia W_ia)]
    (exact under enumeration of all 2^(N·P) W when N·P <= ``max_enum``). Beyond, a Monte Carlo average over
    ``n_samples`` draws (needs ``rng``) with the score (W - m)/(1 - m²) and f centred by its sample mean
    (a control variate); standard errors are sample standard deviations / √n.
    """
    m = np.asarray(m, dtype=np.float64)
    if np.any(np.abs(m) >= 1):
        raise ValueError("means must lie strictly inside (-1, 1) for the gradient")
    D, mf = m.size, m.ravel()

    def values(Ws: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(fn(Ws[lo:lo + chunk].reshape((-1,) + m.shape)), dtype=np.float64)
                               for lo in range(0, len(Ws), chunk)])

    if D <= max_enum:
        Ws = all_states(D).astype(np.float64)                     # (2^D, D)
        q = np.prod((1 + Ws * mf) / 2, axis=1)
        f = values(Ws)
        grad = ((q * f) @ (Ws / (1 + Ws * mf))).reshape(m.shape)
        return QExpectation(float(q @ f), grad, 0.0, np.zeros_like(m), True)
    if not isinstance(rng, np.random.Generator):
        raise TypeError("Monte Carlo over q(W) needs rng=numpy.random.Generator")
    Ws = np.where(rng.random((n_samples, D)) < (1 + mf) / 2, 1.0, -1.0)
    f = values(Ws)
    terms = (f - f.mean())[:, None] * (Ws - mf) / (1 - mf ** 2)
    se = np.sqrt(n_samples)
    return QExpectation(float(f.mean()), terms.mean(0).reshape(m.shape), float(f.std(ddof=1) / se),
                        (terms.std(0, ddof=1) / se).reshape(m.shape), False)
