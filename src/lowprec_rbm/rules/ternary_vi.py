"""Variational inference over ternary weights {−1, 0, +1} (Roth & Pernkopf): posterior, prior, KL, Adam.

Each weight has an independent categorical posterior ``q = softmax(ρ)`` over the values ``(−1, 0, +1)``.
In training the logits are held as three planes, shape ``(3, out, in)`` (axis 0 = value −1, 0, +1), so that
the softmax over the three values is element-wise work on contiguous arrays; the posterior file stores them as
``(out, in, 3)`` (:func:`to_file_layout` / :func:`from_file_layout`). Its moments feed the probabilistic
forward pass
(:mod:`lowprec_rbm.nn.pfp`)::

    μ_w = q(+1) − q(−1),     σ²_w = q(+1) + q(−1) − μ_w²

Prior: ``p(0) = p_zero``, ``p(±1) = (1 − p_zero)/2`` (a larger ``p_zero`` pushes weights to 0: sparsity).
``KL(q||p) = Σ_d q_d (ln q_d − ln p_d)`` per weight, closed form. The objective per example is
``mean CE + kl_weight · KL / N``; :func:`ternary_vi` adds the KL gradient to the likelihood gradient, rescales
with Adam and clips the logits to ``[−logit_bound, logit_bound]`` (the TF code of Roth et al. uses 5).

Deployable network: the most probable value per weight (``argmax q``; ties, measure zero in practice, go to 0,
then +1, then −1, as in :func:`lowprec_rbm.derive.ternary_map`);
sparsity is the fraction of weights whose most probable value is 0.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from lowprec_rbm.rules.base import GradientTransformation, ScalarOrSchedule, chain, scale_by_adam, \
    scale_by_learning_rate, tree_map

__all__ = ["VALUES", "to_file_layout", "from_file_layout", "init_logits", "log_probs", "probs", "moments",
           "moments_backward", "kl", "kl_grad", "entropy", "most_probable", "sample", "kl_gradient", "clip_logits",
           "ternary_vi", "log_prior"]

VALUES = np.array([-1, 0, 1], dtype=np.int8)


def _check_p_zero(p_zero: float) -> float:
    p = float(p_zero)
    if not 0.0 < p < 1.0:
        raise ValueError(f"prior p(w=0) must be in (0, 1), got {p_zero}")
    return p


def log_prior(p_zero: float) -> np.ndarray:
    """``ln p`` for the values (−1, 0, +1): ``(ln((1−p0)/2), ln p0, ln((1−p0)/2))``, float64."""
    p = _check_p_zero(p_zero)
    return np.log(np.array([(1 - p) / 2, p, (1 - p) / 2]))


def to_file_layout(planes: np.ndarray) -> np.ndarray:
    """(3, out, in) planes -> (out, in, 3) as stored in posterior files (a contiguous copy)."""
    return np.ascontiguousarray(np.moveaxis(planes, 0, -1))


def from_file_layout(logits: np.ndarray) -> np.ndarray:
    """(out, in, 3) file layout -> (3, out, in) planes (a contiguous copy)."""
    logits = np.asarray(logits)
    if logits.ndim < 1 or logits.shape[-1] != 3:
        raise ValueError(f"ternary logits must have a last axis of 3 (values -1, 0, +1), got shape {logits.shape}")
    return np.ascontiguousarray(np.moveaxis(logits, -1, 0))


def init_logits(shapes: Sequence[tuple[int, int]], rng: np.random.Generator, scale: float = 2.0,
                zero_logit: float = 0.0) -> list[np.ndarray]:
    """Random logit planes ``(−s u, zero_logit, s u)`` with ``u ~ U(−1, 1)`` per weight, (3, out, in) float32.

    A weight starts leaning to +1 or −1 by a random amount (``s = 2``: up to e⁴ ≈ 55 times more likely than
    the opposite sign), so the initial means are spread and the network breaks symmetry.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    out = []
    for shape in shapes:
        u = rng.uniform(-1.0, 1.0, size=tuple(shape)).astype(np.float32) * np.float32(scale)
        rho = np.empty((3,) + tuple(shape), dtype=np.float32)
        rho[0] = -u
        rho[1] = zero_logit
        rho[2] = u
        out.append(rho)
    return out


def _shifted_exp(planes: np.ndarray):
    """``s = ρ − max_d ρ_d`` (3, ...), ``e = exp s`` and ``z = Σ_d e_d`` (...): the pieces of a stable softmax.

    ``ln q_d = s_d − ln z`` and ``q_d = e_d / z``. Every array is new, so callers may overwrite them in place
    (training spends most of its element-wise time here: one pass per plane per operation, no extra copies).
    """
    s = planes - np.maximum(np.maximum(planes[0], planes[1]), planes[2])
    e = np.exp(s)
    z = e[0] + e[1]
    z += e[2]
    return s, e, z


def log_probs(planes: np.ndarray) -> np.ndarray:
    """``log softmax`` over axis 0 (values −1, 0, +1) of logit planes (3, ...)."""
    s, _, z = _shifted_exp(planes)
    s -= np.log(z)
    return s


def probs(planes: np.ndarray) -> np.ndarray:
    """``softmax`` over axis 0 of logit planes (3, ...)."""
    _, e, z = _shifted_exp(planes)
    e *= np.reciprocal(z)
    return e


def moments(planes: np.ndarray):
    """``(q, μ_w, σ²_w)`` of the ternary posterior; q has shape (3, ...), the moments shape (...)."""
    q = probs(planes)
    mu = q[2] - q[0]
    var = q[2] + q[0] - mu * mu
    return q, mu, np.maximum(var, 0)


def moments_backward(q: np.ndarray, mu: np.ndarray, g_mu: np.ndarray, g_var: np.ndarray) -> np.ndarray:
    """Gradient w.r.t. the logit planes, given gradients w.r.t. ``μ_w`` and ``σ²_w``.

    ``∂μ/∂q = (−1, 0, 1)``, ``∂σ²/∂q = (1 + 2μ, 0, 1 − 2μ)``; through the softmax
    ``∂/∂ρ = q ⊙ (g_q − Σ_d q_d g_q,d)``.
    """
    g0 = -g_mu + g_var * (1 + 2 * mu)
    g2 = g_mu + g_var * (1 - 2 * mu)
    mean = q[0] * g0 + q[2] * g2
    out = np.empty_like(q)
    out[0] = q[0] * (g0 - mean)
    out[1] = -q[1] * mean
    out[2] = q[2] * (g2 - mean)
    return out


def kl(planes: np.ndarray, p_zero: float) -> float:
    """``KL(q || p)`` summed over all weights, in nats (float64)."""
    lq = log_probs(planes.astype(np.float64))
    lp = log_prior(p_zero).reshape((3,) + (1,) * (planes.ndim - 1))
    return float(np.sum(np.exp(lq) * (lq - lp)))


def kl_grad(planes: np.ndarray, p_zero: float) -> np.ndarray:
    """``∂KL/∂ρ = q ⊙ (ln q − ln p − KL_w)`` per weight, with ``KL_w = Σ_d q_d (ln q_d − ln p_d)``."""
    lp = log_prior(p_zero)
    s, q, z = _shifted_exp(planes)
    q *= np.reciprocal(z)                   # q_d = e_d / z
    d = s
    d -= np.log(z)                          # ln q_d = s_d − ln z
    for k in range(3):
        d[k] -= d.dtype.type(lp[k])         # ln q_d − ln p_d
    klw = q[0] * d[0]
    klw += q[1] * d[1]
    klw += q[2] * d[2]
    d -= klw
    d *= q
    return d


def entropy(planes: np.ndarray) -> np.ndarray:
    """Entropy per weight in nats, shape ``planes.shape[1:]``."""
    lq = log_probs(planes)
    return -np.sum(np.exp(lq) * lq, axis=0)


def most_probable(planes: np.ndarray) -> np.ndarray:
    """The most probable value per weight as int8 in {−1, 0, +1} (ties: 0, then +1, then −1)."""
    order = np.array([1, 2, 0])   # planes of 0, +1, −1; argmax takes the first maximum
    return VALUES[order[np.argmax(planes[order], axis=0)]]


def sample(planes: np.ndarray, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
    """Draw ternary weights (int8) from q: shape ``planes.shape[1:]`` or ``(size,) + that``."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    q = probs(planes.astype(np.float64))
    shape = q.shape[1:] if size is None else (int(size),) + q.shape[1:]
    u = rng.random(shape)
    c0 = q[0]
    c1 = c0 + q[1]
    return np.where(u < c0, -1, np.where(u < c1, 0, 1)).astype(np.int8)


class _Empty(NamedTuple):
    """Stateless."""


def kl_gradient(p_zero: float, weight: float) -> GradientTransformation:
    """Add the prior term to the likelihood gradient (ascent): ``g − weight · ∂KL/∂ρ`` (params are logits)."""
    _check_p_zero(p_zero)
    wgt = float(weight)
    if not (np.isfinite(wgt) and wgt >= 0):
        raise ValueError(f"KL weight must be finite and >= 0, got {weight}")

    def update(grads, state, params):
        if wgt == 0.0:
            return grads, state
        return tree_map(lambda g, rho: g - np.float32(wgt) * kl_grad(rho, p_zero), grads, params), state

    return GradientTransformation(lambda params: _Empty(), update)


def clip_logits(bound: float | None) -> GradientTransformation:
    """Keep logits in ``[−bound, bound]`` (None: no clipping)."""
    if bound is not None and not float(bound) > 0:
        raise ValueError(f"logit bound must be > 0 or None, got {bound}")

    def update(updates, state, params):
        if bound is None:
            return updates, state
        b = np.float32(bound)
        return tree_map(lambda u, p: np.clip(p + u, -b, b) - p, updates, params), state

    return GradientTransformation(lambda params: _Empty(), update)


def ternary_vi(learning_rate: ScalarOrSchedule = 1e-2, p_zero: float = 0.5, kl_weight: float = 0.0,
               b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, logit_bound: float | None = 5.0
               ) -> GradientTransformation:
    """Adam on the logits of the ternary posterior with the KL to the prior.

    Parameters
    ----------
    learning_rate : float or schedule
        Adam step size for the logits (Roth et al. use 1e-2).
    p_zero : float in (0, 1)
        Prior probability of a zero weight.
    kl_weight : float
        Multiplier of ``KL`` in the per-example objective (the ELBO per example has ``1/N``).
    logit_bound : float or None
    """
    return chain(kl_gradient(p_zero, kl_weight), scale_by_adam(b1, b2, eps),
                 scale_by_learning_rate(learning_rate), clip_logits(logit_bound))
