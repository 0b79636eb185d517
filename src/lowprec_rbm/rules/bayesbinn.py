"""BayesBiNN (Meng, Bachmann & Khan, ICML 2020): the Bayesian learning rule for ±1 weights of a network.

Posterior: independent Bernoulli over w ∈ {−1, +1} with natural parameters λ, mean μ = tanh λ
(:class:`lowprec_rbm.posterior.BernoulliPosterior`). One step, in the rules' ascent convention
(:mod:`lowprec_rbm.rules`; ``params`` are the λ of every layer)::

    ε ~ U(0, 1),  δ = ½ log(ε / (1 − ε))              logistic noise: P(λ + δ > 0) = sigmoid(2λ)
    w_r = tanh((λ + δ) / τ)                           relaxed sample (exactly ±1 in floating point for tiny τ)
    g   = ∇_w mean-batch loss at w = w_r              (forward/backward of the network)
    ĝ   = −N · s ⊙ g                                  estimate of ∇_μ E_q[ln p(D|W)]   (:func:`mean_gradient`)
    d   = ĝ + r (λ0 − λ)                               natural-gradient ascent direction, r = KL reweight
    v  <- β v + (1 − β) d ;   λ <- λ + α v / (1 − β^t)   (β = 0: λ <- (1 − α) λ + α (λ0 + ĝ))

The scale ``s`` turns a gradient at the sample into a gradient w.r.t. the mean. Three estimators
(``estimator=``), the decision about the published code's float32 behaviour:

``"expected"`` (default, a deliberate change)
    ``s = 1``. For a relaxed sample, ``∂w_r/∂λ = (1 − w_r²)/τ`` and ``∂μ/∂λ = 1 − μ²``, so the published scale
    is ``s = (1 − w_r²) / (τ (1 − μ²))``. Over the logistic noise (density ``½ sech² t``),
    ``E_δ[(1 − w_r²)/τ] = ∫ ½ sech²(t) sech²((λ + t)/τ)/τ dt → sech²(λ) = 1 − μ²`` as τ → 0, because
    ``sech²(u/τ)/τ`` integrates to 2 and concentrates at ``t = −λ``. So ``E_δ[s] → 1``: at the published
    τ = 1e-10 the scale's expectation is exactly 1, while the sample itself is a spike (0 almost always,
    ~1/τ rarely) that float arithmetic cannot represent. We use that expectation (a Rao–Blackwell step for the
    scale) with hard samples ``w = sign(λ + δ)``. The update is then the BLR with the straight-through
    estimate of ``∇_μ``; it needs no ``1e-10`` guards, no μ (hence no μ lag), and it keeps λ finite and
    informative: the fixed point is ``λ* = λ0 − N E[g] / r`` (weights with a consistent gradient get large |λ|,
    the others stay uncertain).
``"published"`` (reproduction of ``optimizers/BayesBiNN.py`` at commit 67e0c6f)
    ``s = (1 − w_r² + 1e-10) / τ / (1 − μ² + 1e-10)`` in float32, with the guards and with μ lagging λ by one
    step (``μ = tanh λ_{t−1}``, initially ``tanh λ_0``). At τ = 1e-10 the numerator is exactly 1, and at
    |λ| >= 9.0 (float32 ``tanh`` rounds to 1) the denominator is 1e-10, so the first gradient is multiplied by
    ``N · 1e10`` and |λ| jumps to ~1e7: every later sample equals the MAP network (the posterior carries no
    uncertainty). Kept so that this behaviour can be shown and compared.
``"relaxed"``
    The same published ratio computed stably for a finite τ (e.g. 0.01–1), with no guards and no lag:
    ``s = exp(2 (log 2cosh λ − log 2cosh((λ + δ)/τ))) / τ`` (``1 − tanh² x = 1/cosh² x``). With tiny τ this
    estimator is 0 almost surely: use ``"expected"`` there.

:func:`bayesbinn` is the (init, update) pair that consumes ``ĝ``; :func:`relaxed_sample` and
:func:`mean_gradient` (with :class:`EstimatorState`, which holds the lagged μ of ``"published"``) produce it.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from lowprec_rbm.posterior import log2cosh
from lowprec_rbm.rules.base import (
    GradientTransformation, ScalarOrSchedule, chain, scale_by_learning_rate, tree_map,
)

__all__ = ["ESTIMATORS", "init_lambda", "relaxed_sample", "EstimatorState", "estimator_init", "mean_gradient",
           "natural_direction", "bias_corrected_momentum", "bayesbinn"]

ESTIMATORS = ("expected", "published", "relaxed")
_GUARD = np.float32(1e-10)


def init_lambda(shapes: Sequence[tuple[int, ...]], rng: np.random.Generator, lam_init: float = 10.0,
                lam_std: float = 0.0) -> list[np.ndarray]:
    """λ = ±lam_init with independent random signs (+ ``sqrt(lam_std)`` N(0, 1), as the published code), float32."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if not (np.isfinite(lam_init) and lam_init >= 0):
        raise ValueError(f"lam_init must be finite and >= 0, got {lam_init}")
    if not (np.isfinite(lam_std) and lam_std >= 0):
        raise ValueError(f"lam_std must be finite and >= 0, got {lam_std}")
    out = []
    for shape in shapes:
        lam = np.where(rng.random(shape) < 0.5, -lam_init, lam_init).astype(np.float32)
        if lam_std > 0:
            lam += (np.sqrt(lam_std) * rng.standard_normal(shape)).astype(np.float32)
        out.append(lam)
    return out


def relaxed_sample(lam: Sequence[np.ndarray], rng: np.random.Generator, tau: float, keep_logits: bool = False):
    """``w_r = tanh((λ + δ)/τ)``, ``δ = ½ log(ε/(1 − ε))``, ε ~ U(0,1) float32, one sample per layer.

    ``sign(λ + δ)`` is a Bernoulli draw with mean ``tanh λ``; for tiny τ, ``w_r`` is exactly ±1 in floating point
    (``λ + δ = 0`` exactly would give 0; it has probability ~2^-24 per weight and changes nothing).

    Returns
    -------
    samples : list of float32 arrays (one per layer)
    logits : list of arrays ``(λ + δ)/τ`` when ``keep_logits`` (needed by ``estimator="relaxed"``), else None
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if not (np.isfinite(tau) and tau > 0):
        raise ValueError(f"temperature tau must be finite and > 0, got {tau}")
    tau32 = np.float32(tau)
    samples, logits = [], ([] if keep_logits else None)
    for l in lam:
        eps = rng.random(l.shape, dtype=np.float32)
        with np.errstate(divide="ignore"):
            x = np.float32(0.5) * np.log(eps / (np.float32(1.0) - eps))
        x += l
        x /= tau32
        if keep_logits:
            logits.append(x.copy())
        samples.append(np.tanh(x, out=x))
    return samples, logits


class EstimatorState(NamedTuple):
    """State of :func:`mean_gradient`: the lagged means ``tanh λ_{t−1}`` (``"published"`` only, else None)."""

    mu: Any


def estimator_init(lam: Sequence[np.ndarray], estimator: str = "expected") -> EstimatorState:
    """Initial state for :func:`mean_gradient` (the published code starts with ``μ = tanh λ_0``)."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if estimator == "published":
        return EstimatorState([np.tanh(l.astype(np.float32)) for l in lam])
    return EstimatorState(None)


_MAX_LOG_SCALE = np.float32(60.0)   # caps the relaxed scale at e^60/τ instead of overflowing float32


def mean_gradient(loss_grads: Sequence[Sequence[np.ndarray]], samples: Sequence[Sequence[np.ndarray]],
                  lam: Sequence[np.ndarray], state: EstimatorState, *, tau: float, n_data: int,
                  estimator: str = "expected", logits: Sequence[Sequence[np.ndarray]] | None = None
                  ) -> tuple[list[np.ndarray], EstimatorState]:
    """Estimate ``∇_μ E_q[ln p(D|W)]`` from M relaxed samples.

    Parameters
    ----------
    loss_grads : M lists (one per sample) of per-layer arrays
        Gradients of the batch-mean loss w.r.t. the weights, evaluated at each sample.
    samples : M lists of per-layer arrays
        The relaxed samples ``w_r`` the gradients were taken at.
    lam : list of per-layer arrays
        Current natural parameters (before the update).
    state : EstimatorState
    tau : float
        Relaxation temperature.
    n_data : int
        N, the size of the training set (the batch-mean loss gradient is multiplied by N).
    estimator : {"expected", "published", "relaxed"}
    logits : M lists of per-layer arrays ``(λ + δ)/τ``; required for ``"relaxed"``

    Returns
    -------
    grads : list of per-layer arrays: ``−N · mean_m(s_m ⊙ g_m)`` (ascent direction of the likelihood)
    state : EstimatorState
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    m = len(loss_grads)
    if m < 1 or len(samples) != m:
        raise ValueError(f"need as many samples as gradients (>= 1), got {len(samples)} and {m}")
    if estimator == "relaxed" and (logits is None or len(logits) != m):
        raise ValueError("estimator='relaxed' needs the sample logits (λ + δ)/τ: relaxed_sample(..., keep_logits=True)")
    if int(n_data) < 1:
        raise ValueError(f"n_data must be >= 1, got {n_data}")
    factor = np.float32(-float(n_data) / m)
    tau32 = np.float32(tau)
    out = []
    for i, l in enumerate(lam):
        acc = np.zeros(l.shape, dtype=np.float32)
        for k in range(m):
            g = loss_grads[k][i].astype(np.float32, copy=False)
            if estimator == "expected":
                acc += g
            elif estimator == "published":
                w = samples[k][i]
                mu = state.mu[i]
                s = (np.float32(1.0) - w * w + _GUARD) / tau32 / (np.float32(1.0) - mu * mu + _GUARD)
                acc += s * g
            else:
                # (1 − tanh² x) / (1 − tanh² λ) = cosh² λ / cosh² x = exp(2 (log 2cosh λ − log 2cosh x)).
                expo = np.minimum(np.float32(2.0) * (log2cosh(l) - log2cosh(logits[k][i])), _MAX_LOG_SCALE)
                acc += (np.exp(expo) / tau32) * g
        out.append(acc * factor)
    if estimator == "published":
        # μ <- tanh(λ before this update): the one-step lag of the published code.
        state = EstimatorState([np.tanh(l.astype(np.float32)) for l in lam])
    return out, state


def natural_direction(lam0: Any = 0.0, kl_weight: float = 1.0) -> GradientTransformation:
    """``d = ĝ + r (λ0 − λ)``: the BLR direction (params are λ; λ0 a number or a tree like λ)."""
    r = float(kl_weight)
    if not (np.isfinite(r) and r >= 0):
        raise ValueError(f"kl_weight must be finite and >= 0, got {kl_weight}")

    def update(grads, state, params):
        if np.isscalar(lam0) or isinstance(lam0, (int, float)):
            l0 = float(lam0)
            return tree_map(lambda g, lam: g + np.float32(r) * (np.float32(l0) - lam), grads, params), state
        return tree_map(lambda g, lam, p0: g + np.float32(r) * (p0 - lam), grads, params, lam0), state

    return GradientTransformation(lambda params: _Empty(), update)


class _Empty(NamedTuple):
    """Stateless."""


class MomentumState(NamedTuple):
    count: int
    v: Any


def bias_corrected_momentum(beta: float) -> GradientTransformation:
    """``v <- β v + (1 − β) d``, emits ``v / (1 − β^t)`` (Adam-style bias correction; β = 0 passes d through)."""
    beta = float(beta)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {beta}")

    def init(params):
        return MomentumState(0, tree_map(np.zeros_like, params))

    def update(d, state: MomentumState, params=None):
        if beta == 0.0:
            return d, MomentumState(state.count + 1, state.v)
        t = state.count + 1
        b = np.float32(beta)
        v = tree_map(lambda g, old: b * old + (np.float32(1) - b) * g, d, state.v)
        c = np.float32(1.0 - beta ** t)
        return tree_map(lambda x: x / c, v), MomentumState(t, v)

    return GradientTransformation(init, update)


def bayesbinn(learning_rate: ScalarOrSchedule = 1e-4, lam0: Any = 0.0, momentum: float = 0.0,
              kl_weight: float = 1.0) -> GradientTransformation:
    """The BayesBiNN update of λ, given the estimate ``ĝ`` of ``∇_μ E_q[ln p(D|W)]`` as ``grads``.

    Parameters
    ----------
    learning_rate : float or schedule ``step -> rate``
        α (the published MNIST setting is 1e-4 with cosine decay per epoch).
    lam0 : float or tree like λ
        Prior natural parameters: 0 = uniform, or a previous task's posterior (continual learning).
    momentum : float in [0, 1)
        β of the bias-corrected moving average of the direction (0 in the published image runs).
    kl_weight : float
        r, the weight of the prior term.
    """
    return chain(natural_direction(lam0, kl_weight), bias_corrected_momentum(momentum),
                 scale_by_learning_rate(learning_rate))
