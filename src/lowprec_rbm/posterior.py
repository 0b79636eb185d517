"""Mean-field Bernoulli posterior over ±1 weights, held in natural parameters.

For one weight w in {-1, +1} with natural parameter λ:

    q(w) = exp(λ w) / (2 cosh λ),   m = E[w] = tanh λ,   p(w = +1) = sigmoid(2λ)
    A(λ) = log(2 cosh λ)  (log-partition),  A'(λ) = m,  A''(λ) = 1 - m²  (Fisher information)

Everything is computed from λ in a numerically stable way (no tanh round-trip to ±1 for large |λ|).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lowprec_rbm.vecmath import log2cosh  # re-exported: the one log 2cosh of the package

__all__ = ["BernoulliPosterior", "log2cosh", "signs"]


def signs(x: np.ndarray) -> np.ndarray:
    """``±1`` of ``x`` with ``sign(0) = +1`` (bit layout v1), in x's floating dtype.

    ``2·[x >= 0] − 1`` on a fresh array: about 20× faster than ``np.where(x >= 0, 1, −1)`` on large arrays,
    which matters in training (the weights of every step, the activations of every layer).
    """
    x = np.asarray(x)
    out = (x >= 0).astype(x.dtype if x.dtype.kind == "f" else np.float64)
    out *= 2
    out -= 1
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # Stable logistic: exp of a non-positive number only.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@dataclass(frozen=True)
class BernoulliPosterior:
    """Independent Bernoulli distributions over ±1 weights, parameterised by natural parameters.

    Parameters
    ----------
    lam : ndarray of float, any shape
        Natural parameters λ; the mean is ``tanh(λ)``.
    """

    lam: np.ndarray

    def __post_init__(self) -> None:
        lam = np.asarray(self.lam)
        if not np.issubdtype(lam.dtype, np.floating):
            raise TypeError(f"natural parameters must be floating point, got dtype {lam.dtype}")
        if not np.all(np.isfinite(lam)):
            raise ValueError("natural parameters contain NaN or infinite values")
        object.__setattr__(self, "lam", lam)

    @classmethod
    def from_mean(cls, m: np.ndarray, eps: float = 1e-12) -> "BernoulliPosterior":
        """Build from means m in [-1, 1] (clipped to ±(1 - eps) so λ stays finite)."""
        m = np.asarray(m, dtype=np.float64)
        if np.any(np.abs(m) > 1.0) or not np.all(np.isfinite(m)):
            raise ValueError("means must be finite and lie in [-1, 1]")
        return cls(np.arctanh(np.clip(m, -1.0 + eps, 1.0 - eps)))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.lam.shape

    @property
    def mean(self) -> np.ndarray:
        """m = tanh λ, shape of ``lam``."""
        return np.tanh(self.lam)

    @property
    def prob_plus(self) -> np.ndarray:
        """p(w = +1) = sigmoid(2λ)."""
        return _sigmoid(2.0 * self.lam)

    def map(self) -> np.ndarray:
        """Most probable weights as int8 ±1; ties (λ = 0) go to +1 (bit layout v1: sign(0) = +1)."""
        return np.where(self.lam >= 0, 1, -1).astype(np.int8)

    def sample(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
        """Draw ±1 weights (int8) of shape ``lam.shape`` or ``(size,) + lam.shape``."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        shape = self.shape if size is None else (int(size),) + self.shape
        u = rng.random(shape)
        return np.where(u < self.prob_plus, 1, -1).astype(np.int8)

    def flip_prob(self) -> np.ndarray:
        """Probability that a sample differs from the MAP weight: sigmoid(-2|λ|) (= 1/2 at λ = 0)."""
        return _sigmoid(-2.0 * np.abs(self.lam))

    def entropy(self) -> np.ndarray:
        """Entropy per weight in nats: A(λ) - λ m."""
        return log2cosh(self.lam) - self.lam * self.mean

    def kl(self, lam0: float | np.ndarray = 0.0) -> float:
        """KL(q || p0) in nats summed over weights, p0 Bernoulli with natural parameter ``lam0``.

        KL = Σ [ (λ - λ0) m - A(λ) + A(λ0) ]; for λ0 = 0 it is Σ [ln 2 - H(q)].
        """
        lam0 = np.broadcast_to(np.asarray(lam0, dtype=np.float64), self.shape)
        return float(np.sum((self.lam - lam0) * self.mean - log2cosh(self.lam) + log2cosh(lam0)))
