"""Annealed importance sampling (AIS) of an RBM's log-partition function and of test log-likelihoods.

The estimator is the one of Neal (2001) as Salakhutdinov & Murray (2008) apply it to RBMs, written for ±1 units.

Model (±1 units): p(σ, h) ∝ exp(σᵀ J h + b·σ + c·h), σ ∈ {±1}^N, h ∈ {±1}^P, real couplings J (N, P), visible
field b (N,), hidden field c (P,). The binary-synapse RBM of :mod:`.model` is J = (β/√N) W with W ∈ {±1}^{N×P}
(:func:`binary_couplings`); its fields enter the exponent as written (b·σ + c·h), zero when absent. Summing the
hidden units out analytically,

    p*(σ) = exp(b·σ) Π_a 2cosh(Σ_i σ_i J_ia + c_a),      ln p(σ) = ln p*(σ) - ln Z.

Annealing path (inverse temperature t from 0 to 1), from a base of independent visible units with field a:

    f_t(σ) = ((1 - t) a + t b)·σ + Σ_a ln 2cosh(t (Σ_i σ_i J_ia + c_a))

t = 0 is the base: P(σ_i = +1) = sigmoid(2 a_i), hidden units uniform, Z_0 = 2^P Π_i 2cosh(a_i) in closed form.
The default base field is the model's own visible field (a = b: uniform σ when the model has none; b is then
not annealed); Salakhutdinov & Murray's choice, the data's marginals (:func:`base_field_from_data`), helps
models whose visible fields are far from their marginals (e.g. scikit-learn's). t = 1 is the model. Each chain
draws σ from the base, then for k = 1..K adds f_{t_k}(σ) - f_{t_{k-1}}(σ) to its log-weight and moves σ by one
Gibbs sweep h | σ, σ | h of the joint p_{t_k}(σ, h) ∝ exp(((1-t)a + t b)·σ + t (σᵀJh + c·h)) (which leaves the
marginal f_{t_k} invariant): P(h_a = +1 | σ) = sigmoid(2 t (σᵀJ + c)_a),
P(σ_i = +1 | h) = sigmoid(2 ((1-t) a_i + t b_i + t (J h)_i)).
Then Ẑ = Z_0 · mean_chains exp(log-weight) is unbiased for Z and ln Ẑ is a (slightly low: Jensen) estimate of
ln Z.

Uncertainty: ``log_z_se`` is the delta-method standard error of ln Ẑ, std(w) / (√n · mean(w)) over the n chains'
importance weights w (computed in a shifted frame, so it does not overflow). It is a first-order figure: it is
reliable when the effective sample size ``ess`` = (Σw)²/Σw² is a sizable fraction of n, and understates the error
when a few chains dominate (then raise the number of temperatures). The tests compare against exact enumeration
with this reported error.

Default schedule (:func:`schedule`): K temperatures spaced uniformly in three pieces, 10 % of them on [0, 0.5],
30 % on [0.5, 0.9], 60 % on [0.9, 1], the shape Salakhutdinov & Murray used (most of the change of a trained RBM's
distribution happens near t = 1).

scikit-learn's ``BernoulliRBM`` ({0,1} units, real weights, biases) maps exactly onto this form
(:func:`from_bernoulli`): with v = (σ+1)/2, h = (g+1)/2 its exponent vᵀWᵀh + b_v·v + b_h·h equals
σᵀ(W/4)ᵀg + (b_v/2 + Wᵀ1/4)·σ + (b_h/2 + W1/4)·g + const, so the same estimator applies and ln Z differs by the
constant.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from lowprec_rbm.base import check_random_state
from lowprec_rbm.posterior import log2cosh

__all__ = ["DEFAULT_CHAINS", "DEFAULT_TEMPERATURES", "AISResult", "schedule", "base_field_from_data", "binary_couplings", "unnormalized_log_prob", "ais_log_partition",
           "log_likelihood", "from_bernoulli", "bernoulli_log_likelihood"]


# Defaults of every entry point (library, BinaryRBM, CLI). On a 784-100 RBM trained on the embedded sample,
# 100 chains gave ESS 5 and ln Ẑ 1.1 nats low with 1,000 temperatures, ESS 13 with 3,000 (±0.27, within 0.06 of
# 300 chains x 3,000): README, "Test log-likelihood".
DEFAULT_CHAINS = 100
DEFAULT_TEMPERATURES = 3000


class AISResult(NamedTuple):
    """An AIS estimate of ln Z.

    log_z : the estimate ln Ẑ.     log_z_se : its delta-method standard error (see the module docstring).
    log_z0 : ln Z of the base.     log_weights : (n_chains,) importance log-weights (ln Ẑ = log_z0 + logmeanexp).
    ess : effective sample size (Σw)²/Σw² of the weights.     n_temperatures : K.
    """

    log_z: float
    log_z_se: float
    log_z0: float
    log_weights: np.ndarray
    ess: float
    n_temperatures: int

    def log_z_lower_bound(self, delta: float = 0.05) -> float:
        """ln Ẑ − ln(1/δ): below the true ln Z with probability at least 1 − δ, however poor the run.

        Ẑ is positive and unbiased for Z (E[Ẑ] = Z), so Markov's inequality gives P(Ẑ ≥ Z/δ) ≤ δ, i.e.
        P(ln Z ≤ ln Ẑ − ln(1/δ)) ≤ δ. It needs no effective sample size: a degenerate run (ESS near 1) still
        bounds ln Z from below, so a log-likelihood ln p*(v) − ln Z is at most ln p*(v) − (this) with the same
        confidence (the argument of Burda, Grosse & Salakhutdinov 2015). No upper bound on ln Z follows from AIS.
        """
        if isinstance(delta, bool) or not isinstance(delta, (int, float, np.floating)):
            raise TypeError(f"delta must be a float in (0, 1), got {type(delta).__name__}")
        if not 0 < delta < 1:
            raise ValueError(f"delta must be a probability in (0, 1), got {delta!r}")
        return self.log_z - math.log(1.0 / delta)


def schedule(n_temperatures: int) -> np.ndarray:
    """Inverse temperatures 0 = t_0 < ... < t_K = 1 (K = ``n_temperatures``), piecewise uniform (module docstring).

    >>> t = schedule(10)
    >>> float(t[0]), float(t[-1]), len(t)
    (0.0, 1.0, 11)
    """
    if isinstance(n_temperatures, bool) or not isinstance(n_temperatures, (int, np.integer)):
        raise TypeError(f"n_temperatures must be an int, got {type(n_temperatures).__name__}")
    if n_temperatures < 3:
        raise ValueError(f"n_temperatures must be >= 3, got {n_temperatures}")
    k1 = max(1, round(0.1 * n_temperatures))
    k2 = max(1, round(0.3 * n_temperatures))
    k3 = n_temperatures - k1 - k2
    return np.concatenate([np.linspace(0.0, 0.5, k1, endpoint=False), np.linspace(0.5, 0.9, k2, endpoint=False),
                           np.linspace(0.9, 1.0, k3 + 1)])


def base_field_from_data(X: Any) -> np.ndarray:
    """Base visible field a (N,) matching the marginals of ±1 rows X (M, N): tanh(a_i) = mean of σ_i, with one
    pseudo-count of each sign per unit (so a unit always +1 or -1 in X gets a finite field)."""
    X = np.asarray(X)
    if X.ndim != 2 or not np.all((X == 1) | (X == -1)):
        raise ValueError(f"X must be ±1 rows of shape (M, N), got shape {X.shape}")
    p = ((X > 0).sum(axis=0) + 1.0) / (X.shape[0] + 2.0)
    return 0.5 * np.log(p / (1.0 - p))


def binary_couplings(weights: Any, beta: float) -> np.ndarray:
    """J = (β/√N) W for ±1 weights W (N, P): the binary-synapse RBM's couplings in the form above."""
    W = np.asarray(weights)
    if W.ndim != 2 or W.size == 0:
        raise ValueError(f"weights must have shape (N, P), got {W.shape}")
    if not np.all((W == 1) | (W == -1)):
        raise ValueError("weights must contain only -1 and +1")
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.floating)) or not (
            math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
    return W.astype(np.float64) * (float(beta) / math.sqrt(W.shape[0]))


def _check_model(coupling: Any, visible_field: Any, hidden_field: Any):
    J = np.asarray(coupling, dtype=np.float64)
    if J.ndim != 2 or J.size == 0:
        raise ValueError(f"coupling must have shape (N, P), got {J.shape}")
    N, P = J.shape
    out = [J]
    for name, f, n in (("visible_field", visible_field, N), ("hidden_field", hidden_field, P)):
        f = np.zeros(n) if f is None else np.asarray(f, dtype=np.float64)
        if f.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {f.shape}")
        out.append(f)
    if not all(np.all(np.isfinite(a)) for a in out):
        raise ValueError("coupling and fields must be finite")
    return out


def _check_pm1(X: Any, n: int) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != n:
        raise ValueError(f"X must have shape (M, {n}) of ±1 values, got {X.shape}")
    if not np.all((X == 1) | (X == -1)):
        raise ValueError("X must contain only -1 and +1")
    return X.astype(np.float64)


def unnormalized_log_prob(X: Any, coupling: Any, visible_field: Any = None, hidden_field: Any = None) -> np.ndarray:
    """ln p*(σ) = b·σ + Σ_a ln 2cosh(σᵀJ + c)_a for each row σ of X (M, N) of ±1 (hidden units summed out)."""
    J, b, c = _check_model(coupling, visible_field, hidden_field)
    X = _check_pm1(X, J.shape[0])
    return X @ b + log2cosh(X @ J + c).sum(axis=1)


def _sigmoid2(x: np.ndarray) -> np.ndarray:
    """sigmoid(2x) = (1 + tanh x)/2 (no overflow)."""
    return 0.5 * (1.0 + np.tanh(x))


def ais_log_partition(coupling: Any, *, visible_field: Any = None, hidden_field: Any = None,
                      n_chains: int = DEFAULT_CHAINS, n_temperatures: int = DEFAULT_TEMPERATURES,
                      temperatures: Any = None, base_visible_field: Any = None,
                      random_state: Any = None) -> AISResult:
    """AIS estimate of ln Z for the ±1 RBM (J, b, c) of the module docstring.

    Parameters
    ----------
    coupling : array (N, P)
        Real couplings J (the binary RBM's are :func:`binary_couplings`).
    visible_field, hidden_field : array (N,), (P,), optional
        Fields b and c (zero when None).
    n_chains : int >= 2
        Independent annealing runs (the uncertainty is estimated across them).
    n_temperatures : int >= 3
        K of the default :func:`schedule`; ignored when ``temperatures`` is given.
    temperatures : array, optional
        An explicit increasing schedule from 0 to 1.
    base_visible_field : array (N,), optional
        Field a of the base distribution (default: the model's visible field; see the module docstring).
    random_state : None, int or numpy.random.Generator
        Source of every draw.

    Returns
    -------
    AISResult

    >>> import numpy as np
    >>> W = np.where(np.random.default_rng(0).random((8, 3)) < 0.5, -1, 1)
    >>> r = ais_log_partition(binary_couplings(W, 1.0), n_chains=50, n_temperatures=200, random_state=0)
    >>> from lowprec_rbm.rbm.exact import log_partition
    >>> abs(r.log_z - log_partition(W, 1.0)) < 5 * r.log_z_se + 1e-9
    True
    """
    J, b, c = _check_model(coupling, visible_field, hidden_field)
    if isinstance(n_chains, bool) or not isinstance(n_chains, (int, np.integer)):
        raise TypeError(f"n_chains must be an int, got {type(n_chains).__name__}")
    if n_chains < 2:
        raise ValueError(f"n_chains must be >= 2 (the uncertainty is estimated across chains), got {n_chains}")
    if temperatures is None:
        ts = schedule(n_temperatures)
    else:
        ts = np.asarray(temperatures, dtype=np.float64)
        if ts.ndim != 1 or len(ts) < 2 or ts[0] != 0.0 or ts[-1] != 1.0 or np.any(np.diff(ts) <= 0):
            raise ValueError("temperatures must be a strictly increasing 1-d array from 0 to 1")
    a = b if base_visible_field is None else _check_model(J, base_visible_field, None)[1]
    rng = check_random_state(random_state)
    N, P = J.shape
    # Base: independent σ_i with P(+1) = sigmoid(2 a_i); hidden units uniform (2cosh(0) = 2 each).
    log_z0 = float(P * math.log(2.0) + log2cosh(a).sum())
    sigma = np.where(rng.random((n_chains, N)) < _sigmoid2(a), 1.0, -1.0)
    logw = np.zeros(n_chains)
    prev = 0.0
    d = b - a                                               # the visible field moves from a to b along t
    for t in ts[1:]:
        x = sigma @ J + c                                   # (n, P) hidden inputs at t = 1
        logw += (t - prev) * (sigma @ d) + log2cosh(t * x).sum(axis=1) - log2cosh(prev * x).sum(axis=1)
        # one Gibbs sweep of p_t(σ, h): h | σ, then σ | h
        h = np.where(rng.random((n_chains, P)) < _sigmoid2(t * x), 1.0, -1.0)
        sigma = np.where(rng.random((n_chains, N)) < _sigmoid2(a + t * (d + h @ J.T)), 1.0, -1.0)
        prev = t
    top = float(logw.max())
    w = np.exp(logw - top)
    mean_w = float(w.mean())
    log_z = log_z0 + top + math.log(mean_w)
    se = float(w.std(ddof=1) / (math.sqrt(n_chains) * mean_w))
    ess = float(w.sum() ** 2 / (w ** 2).sum())
    return AISResult(float(log_z), se, log_z0, logw, ess, len(ts) - 1)


def log_likelihood(X: Any, weights: Any, *, beta: float = 1.0, visible_field: Any = None,
                   hidden_field: Any = None, n_chains: int = DEFAULT_CHAINS, n_temperatures: int = DEFAULT_TEMPERATURES,
                   random_state: Any = None, log_z: AISResult | None = None) -> tuple[np.ndarray, AISResult]:
    """Per-sample ln p(σ) of ±1 rows X (M, N) under the binary-synapse RBM with ±1 weights (N, P) at β.

    ln p(σ) = ln p*(σ) - ln Ẑ, exact up to the AIS estimate of ln Z (returned, with its standard error; the same
    error is common to every sample). Pass ``log_z`` to reuse an estimate for the same model.
    """
    J = binary_couplings(weights, beta)
    if log_z is None:
        log_z = ais_log_partition(J, visible_field=visible_field, hidden_field=hidden_field, n_chains=n_chains,
                                  n_temperatures=n_temperatures, random_state=random_state)
    return unnormalized_log_prob(X, J, visible_field, hidden_field) - log_z.log_z, log_z


def from_bernoulli(components: Any, intercept_visible: Any, intercept_hidden: Any
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A {0,1} RBM (scikit-learn's ``BernoulliRBM``: ``components_`` (P, N), ``intercept_visible_`` (N,),
    ``intercept_hidden_`` (P,)) as the ±1 form: returns (J (N, P), b (N,), c (P,), offset) with
    ln Z_{0/1} = ln Z_{±1} + offset and ln p_{0/1}(v) = ln p_{±1}(2v - 1) (module docstring)."""
    W = np.asarray(components, dtype=np.float64)
    if W.ndim != 2:
        raise ValueError(f"components must have shape (P, N), got {W.shape}")
    P, N = W.shape
    bv = np.asarray(intercept_visible, dtype=np.float64)
    bh = np.asarray(intercept_hidden, dtype=np.float64)
    if bv.shape != (N,) or bh.shape != (P,):
        raise ValueError(f"intercepts must have shapes ({N},) and ({P},), got {bv.shape} and {bh.shape}")
    J = W.T / 4.0
    b = bv / 2.0 + W.sum(axis=0) / 4.0
    c = bh / 2.0 + W.sum(axis=1) / 4.0
    offset = float(W.sum() / 4.0 + bv.sum() / 2.0 + bh.sum() / 2.0)
    return J, b, c, offset


def bernoulli_log_likelihood(X: Any, components: Any, intercept_visible: Any, intercept_hidden: Any, *,
                             n_chains: int = DEFAULT_CHAINS, n_temperatures: int = DEFAULT_TEMPERATURES,
                             base_data: Any = None, random_state: Any = None
                             ) -> tuple[np.ndarray, AISResult]:
    """Per-sample ln p(v) of {0,1} rows X (M, N) under a {0,1} RBM (e.g. a fitted ``sklearn`` ``BernoulliRBM``:
    ``components_``, ``intercept_visible_``, ``intercept_hidden_``). The returned AISResult is of the ±1 form;
    the {0,1} model's ln Z is ``log_z + offset`` of :func:`from_bernoulli`. ``base_data`` ({0,1} rows, e.g. the
    training data) sets the AIS base to the data's marginals (:func:`base_field_from_data`); without it the
    base is the model's own visible field."""
    J, b, c, _ = from_bernoulli(components, intercept_visible, intercept_hidden)
    V = np.asarray(X)
    if V.ndim != 2 or V.shape[1] != J.shape[0] or not np.all((V == 0) | (V == 1)):
        raise ValueError(f"X must have shape (M, {J.shape[0]}) of 0/1 values, got {V.shape}")
    base = None
    if base_data is not None:
        B = np.asarray(base_data)
        if B.ndim != 2 or B.shape[1] != J.shape[0] or not np.all((B == 0) | (B == 1)):
            raise ValueError(f"base_data must have shape (M, {J.shape[0]}) of 0/1 values, got {B.shape}")
        base = base_field_from_data(2 * B.astype(np.int8) - 1)
    res = ais_log_partition(J, visible_field=b, hidden_field=c, n_chains=n_chains, n_temperatures=n_temperatures,
                            base_visible_field=base, random_state=random_state)
    return unnormalized_log_prob(2 * V.astype(np.int8) - 1, J, b, c) - res.log_z, res
