"""The discriminative term of the hybrid RBM: class information in the hidden MAP bits.

A generatively trained RBM keeps in its hidden MAP bits h_a = sign(X_a(σ) + c_a) whatever explains the pixels
best; with few hidden units that need not be what separates the classes (the issue-14 feature benchmark: at
P = 256 no readout, linear or not, ±1 or real, reads 80 % from such bits). The hybrid objective adds the
log-likelihood of the labels under a readout of the bits, weighted by γ (``BinaryRBM(discriminative=γ)``),

    L(q, U, d) = ELBO(q) + γ Σ_s ln softmax(E[h(σ^s)] U + d)_{y^s}

(Larochelle & Bengio's hybrid RBM). The readout (U, d) is real and auxiliary: it shapes q during training and is
then dropped; the deployable classifier is trained afterwards on the hidden MAP bits (e.g. a BayesBiNN ±1
readout).

What the readout reads is the model's own hidden unit: E[h_a] = E_q E[h_a | σ, W], the mean of the stochastic
unit P(h_a = +1 | σ, W) = sigmoid(2β F_a) (the one the Gibbs sampler draws; its most probable state is the
deployed MAP bit sign F_a) averaged over q. Under q(W) = Π (1 + m W)/2 the field F_a = X_a + c_a is, by the same
central limit as the data term (:mod:`.clt`), Gaussian with mean μ_a = Σ_i m_ia σ_i/√N + c_a and variance
Ξ_a² = Σ_i (1 - m_ia²)/N (independent of σ). With the probit approximation sigmoid(t) ≈ Φ(t √(π/8)) and
E_F[Φ(aF)] = Φ(aμ/√(1 + a²Ξ²)) (a = 2β√(π/8)),

    E[h_a] = erf(r_a / √2),   r_a = μ_a / S_a,   S_a² = Ξ_a² + τ²,   τ² = 2 / (π β²).

Why not the expected *sign* (τ = 0, the probabilistic forward pass of the ternary-VI networks): as q concentrates
(M = 54,000 images make λ large) Ξ → 0, the sign's expectation becomes a step and its gradient vanishes; the
unit's own noise τ keeps the readout's gradient alive, as the ln 2cosh of the data term does.

With δ_a = ∂ℓ/∂E[h_a] the loss gradient at the readout's input and φ(r) = √(2/π) e^{-r²/2} = d erf(r/√2)/dr,
the chain rule through μ and S (∂S_a/∂m_ia = ∂(Ξ_a²)/∂m_ia / (2 S_a) = -m_ia/(N S_a)) gives

    ∂ℓ/∂m_ia = Σ_s δ_sa φ_sa [σ_si / (√N S_a) + μ_sa m_ia / (N S_a³)]
             = (1/√N) Σ_s σ_si (δφ/S)_sa + (m_ia / N) Σ_s (δφμ/S³)_sa,
    ∂ℓ/∂c_a  = Σ_s (δφ/S)_sa,

two matrix products per minibatch. The BLR treats this like the data term: a gradient in the mean parameter m,
added to the ELBO's before the natural-gradient step on λ.

The hidden fields' step is Newton-like (:mod:`lowprec_rbm.rules.fields`: gradient over Fisher); the label term
adds its Gauss-Newton curvature to that Fisher, Σ_s (φ_sa/S_a)² [U (diag p_s - p_s p_sᵀ) Uᵀ]_aa
(``curv_hidden``; p_s the readout's softmax), so the fields' step stays a Newton step of the hybrid objective.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from lowprec_rbm.nn.layers import softmax_cross_entropy
from lowprec_rbm.nn.pfp import erf
from lowprec_rbm.rbm.clt import field_std
from lowprec_rbm.rules.adam import glorot_uniform

__all__ = ["expected_bits", "DiscriminativeTerm", "discriminative_term", "init_readout", "unit_noise_variance"]


def unit_noise_variance(beta: float) -> float:
    """τ² = 2/(π β²): the variance of the Gaussian whose CDF approximates the hidden unit's sigmoid(2β·)."""
    return 2.0 / (math.pi * beta * beta)


def _moments(X: np.ndarray, m: np.ndarray, c: np.ndarray | None, beta: float) -> tuple[np.ndarray, np.ndarray]:
    N = m.shape[0]
    mu = (np.asarray(X, dtype=np.float64) @ m) / math.sqrt(N)
    if c is not None:
        mu += c
    S = np.sqrt(field_std(m) ** 2 + unit_noise_variance(beta))           # S² = Ξ² + τ²
    return mu, S


def expected_bits(X: np.ndarray, m: np.ndarray, hidden_field: np.ndarray | None = None,
                  beta: float = 1.0) -> np.ndarray:
    """E[h_a] = E_q E[h_a | σ, W] ≈ erf(μ_a / (√2 S_a)) for each pattern, shape (M, P), in (-1, 1) (module doc).

    Parameters
    ----------
    X : ndarray, shape (M, N)
        ±1 patterns.
    m : ndarray, shape (N, P)
        Posterior means tanh(λ).
    hidden_field : ndarray, shape (P,), optional
        c (0 when None).
    beta : float
        The RBM's inverse temperature β > 0.
    """
    mu, S = _moments(X, m, hidden_field, beta)
    return erf(mu / (math.sqrt(2.0) * S))


class DiscriminativeTerm(NamedTuple):
    """Summed cross-entropy of a minibatch (``loss``, nats) and its gradients: wrt m (N, P), the hidden
    field c (P,), the readout weights U (P, K) and bias d (K,); ``curv_hidden`` (P,) the Gauss-Newton
    diagonal wrt c; ``correct`` = labels the readout gets right."""

    loss: float
    grad_m: np.ndarray
    grad_hidden: np.ndarray
    grad_weights: np.ndarray
    grad_bias: np.ndarray
    curv_hidden: np.ndarray
    correct: int


def discriminative_term(X: np.ndarray, labels: np.ndarray, m: np.ndarray, hidden_field: np.ndarray | None,
                        weights: np.ndarray, bias: np.ndarray, beta: float = 1.0) -> DiscriminativeTerm:
    """Σ_s -ln softmax(E[h(σ^s)] U + d)_{y^s} and its gradients (module doc).

    Parameters
    ----------
    X : ndarray, shape (B, N)
        ±1 patterns.
    labels : ndarray of int, shape (B,)
        Class indices 0..K-1.
    m : ndarray, shape (N, P)
        Posterior means.
    hidden_field : ndarray, shape (P,) or None
        c.
    weights, bias : ndarray, shapes (P, K), (K,)
        The readout U, d.
    beta : float
        The RBM's inverse temperature β > 0.
    """
    Xf = np.asarray(X, dtype=np.float64)
    N = m.shape[0]
    mu, S = _moments(Xf, m, hidden_field, beta)
    r = mu / S
    h = erf(r / math.sqrt(2.0))                                   # E[h], (B, P)
    B = Xf.shape[0]
    mean_loss, mean_grad, p = softmax_cross_entropy(h @ weights + bias, labels)   # logits (B, K)
    loss = mean_loss * B
    dz = mean_grad * B                                            # softmax - onehot = ∂ℓ/∂z, summed loss
    correct = int(np.sum(np.argmax(p, axis=1) == labels))
    # Gauss-Newton wrt c: J = ∂z/∂c_a = (φ/S)_a U_a·, so
    # J (diag p - p pᵀ) Jᵀ = (φ/S)² (Σ_k U_ak² p_k - (Σ_k U_ak p_k)²)
    pu = p @ weights.T
    q = p @ (weights * weights).T - pu * pu
    phi_s = (math.sqrt(2.0 / math.pi) * np.exp(-0.5 * r * r)) / S       # φ/S, (B, P)
    curv_hidden = np.sum(phi_s * phi_s * q, axis=0)
    delta = dz @ weights.T                                        # ∂ℓ/∂E[h], (B, P)
    a = delta * phi_s                                             # δφ/S
    grad_m = (Xf.T @ a) / math.sqrt(N) + (m / N) * (np.sum(a * mu, axis=0) / (S * S))[None, :]
    return DiscriminativeTerm(loss, grad_m, a.sum(axis=0), h.T @ dz, dz.sum(axis=0), curv_hidden, correct)


def init_readout(n_hidden: int, n_classes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """U ~ U(-b, b) with b = √(6/(P + K)) (Glorot), d = 0: float64 (P, K), (K,)."""
    return glorot_uniform([(n_hidden, n_classes)], rng, dtype=np.float64)[0], np.zeros(n_classes)
