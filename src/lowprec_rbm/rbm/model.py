"""``BinaryRBM``: a restricted Boltzmann machine with ±1 synapses trained as a Bernoulli posterior.

Model: p(σ, h | W, b, c) ∝ exp(β[Σ_ia σ_i W_ia h_a / √N + Σ_i b_i σ_i + Σ_a c_a h_a]), σ ∈ {±1}^N, h ∈ {±1}^P,
W ∈ {±1}^{N×P}; the real fields (biases) b (N,), c (P,) are optional (``visible_fields``, ``hidden_fields``; the
seeds' model has none) and learned by the Gaussian-BLR mean step of :mod:`lowprec_rbm.rules.fields`.
Posterior q(W) = Π exp(λ W)/(2cosh λ) (:class:`~lowprec_rbm.posterior.BernoulliPosterior`, λ of shape (N, P)).
Objective (ELBO): L = Σ_s Σ_a E_q ln 2cosh(β X_a(σ^s)) - M E_q ln Z(W) - KL(q || p0), with the data term by
the CLT (:mod:`.clt`) and E_q ln Z by BP on the dual network (:mod:`.bp`). Each step estimates
g = ∇_m E_q[ln p(D|W)] on a minibatch (data term scaled by M/B) and hands it to a learning rule
(:mod:`lowprec_rbm.rules`: "blr" or "huang").
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from numbers import Integral, Real
from typing import Any, Callable

import numpy as np

from lowprec_rbm import checkpoint as ckpt
from lowprec_rbm.base import BaseEstimator, Interval, Options, check_is_fitted, check_random_state
from lowprec_rbm.posterior import BernoulliPosterior
from lowprec_rbm.rbm.bp import annealed_partition_term, partition_term
from lowprec_rbm.rbm.clt import data_term_fields
from lowprec_rbm.rbm.discriminative import discriminative_term, init_readout
from lowprec_rbm.rbm.planted import overlap
from lowprec_rbm.rules import apply_updates, blr, huang, schedules
from lowprec_rbm.rules.adam import adam
from lowprec_rbm.rules.fields import FieldState, field_fisher, field_natural_gradient

__all__ = ["BinaryRBM", "check_patterns", "auto_blr_rate", "RULES", "PARTITIONS", "DEFAULT_LEARNING_RATE"]

RULES = ("blr", "huang")
PARTITIONS = ("quenched", "annealed")
# Huang's Adam step on m when none is given (smooth rise of the bound on Fashion-MNIST images; the full-batch
# planted bench uses 0.1). The BLR's default is derived from the data: see auto_blr_rate.
DEFAULT_LEARNING_RATE = {"huang": 0.01}
# With ais_every: weight matrices drawn from q(W) whose AIS ln Z estimates the E_q ln Z the bound's Bethe term
# approximates (``bethe_gap``), and the gap per hidden unit above which fit warns that the bound overstates the
# ELBO. Measured gaps (README, "What the bound and the AIS figure measure"): 0.05-0.21 nat per hidden unit on
# 784-32/64 models of the sample; 0.47 when BP sat in a metastable fixed point (before the restart).
POSTERIOR_SAMPLES = 2
BETHE_GAP_WARN_PER_UNIT = 0.3


def auto_blr_rate(X: np.ndarray, beta: float, max_rows: int = 4096, iters: int = 30) -> float:
    """Default BLR rate ρ = 1 / (1 + β² M λ_max(XᵀX/M) / N), half the stability limit at initialisation.

    Near m = 0 the data term's Hessian in m is ≈ (β² M / N) XᵀX/M, so the fixed-point map λ -> λ0 + g(tanh λ)
    has Jacobian norm ≈ β² M λ_max / N and the damped iteration λ <- λ + ρ(λ0 + g - λ) is stable for
    ρ < 2 / (1 + that). The log-partition term only lowers the curvature. λ_max by power iteration on the first
    ``max_rows`` patterns (deterministic start). Measured: 1.4e-3 on the 2,000-image sample (1e-3 rises
    smoothly, 3e-3 oscillates), 4.8e-5 on all 60,000 Fashion-MNIST images, 0.07 on the planted α = 5 data.
    """
    Xs = np.asarray(X[:max_rows], dtype=np.float64)
    v = np.full(Xs.shape[1], 1.0 / np.sqrt(Xs.shape[1]))
    lam_max = 0.0
    for _ in range(iters):
        w = Xs.T @ (Xs @ v) / Xs.shape[0]
        lam_max = float(np.linalg.norm(w))
        if lam_max == 0.0:
            break
        v = w / lam_max
    M, N = X.shape
    return 1.0 / (1.0 + beta ** 2 * M * lam_max / N)


def check_patterns(X: Any, n_visible: int | None = None, name: str = "X") -> np.ndarray:
    """Validate ±1 patterns of shape (M, N) and return them as int8."""
    if not isinstance(X, np.ndarray):
        if isinstance(X, (list, tuple)):
            X = np.asarray(X)
        else:
            raise TypeError(f"{name} must be a numpy array of ±1 values, got {type(X).__name__}")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric (±1 values), got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must have shape (M, N) (one ±1 pattern per row), got shape {X.shape}")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{name} must hold at least one pattern of at least one unit, got shape {X.shape}")
    if X.dtype.kind == "f" and not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinite values (expected ±1)")
    bad = (X != 1) & (X != -1)
    if np.any(bad):
        vals = np.unique(X[bad])[:5]
        raise ValueError(f"{name} must contain only -1 and +1 (binarise images first); found {vals.tolist()}")
    if n_visible is not None and X.shape[1] != n_visible:
        raise ValueError(f"{name} has {X.shape[1]} visible units, the model has {n_visible}")
    return X.astype(np.int8, copy=False)


def _finite_real(value: Any) -> bool:
    """a finite number"""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


class BinaryRBM(BaseEstimator):
    """Binary-synapse RBM trained as a mean-field Bernoulli posterior (BLR or Huang's clipped ascent).

    A scikit-learn transformer (``fit``, ``partial_fit``, ``transform``, ``fit_transform``, ``score_samples``,
    ``score``, ``gibbs``, ``sample``; ``get_params``/``set_params`` from the signature), usable as a drop-in
    for ``sklearn.neural_network.BernoulliRBM`` on binary data; scikit-learn itself is not needed. The
    hyper-parameters are keyword-only, stored unchanged and validated in ``fit``.

    Parameters
    ----------
    n_hidden : int
        P >= 1 hidden units.
    beta : float
        Inverse temperature β > 0.
    rule : {"blr", "huang"}
        Learning rule: natural-parameter BLR (no clipping) or clipped ascent on m (Adam by default).
    learning_rate : float or None
        ρ for "blr", η for "huang". None: ``auto_blr_rate(X, beta)`` for "blr" (from the data's top
        eigenvalue; ~1.4e-3 on 2,000 Fashion-MNIST images), ``DEFAULT_LEARNING_RATE["huang"]`` = 0.01.
    schedule : {"constant", "cosine"}
        Learning-rate schedule over all training steps of ``fit`` (``partial_fit`` keeps the rate constant).
    epochs : int
        Passes over the data in ``fit`` (``partial_fit`` makes one).
    batch_size : int or None
        Minibatch size B (None = full batch).
    n_z : int
        Gaussian z-samples for the quenched log-partition term (and for the lower-bound estimate).
    bp_damping, bp_tol, bp_max_iter : float, float, int
        BP damping in [0, 1), per-entry tolerance on message changes, iteration cap.
    bp_dtype : {"float32", "float64"}
        Arithmetic of the BP iterations (beliefs and Bethe ln Z are always evaluated in float64).
    warm_start : bool
        Start each BP run from the previous step's messages.
    partition : {"quenched", "annealed"}
        E_q ln Z by BP with quenched Gaussian hidden fields βΞz (the seeds' dual network, ``n_z`` samples), or
        ln E_q Z = Σβ²Ξ²/2 + BP at zero hidden field (``n_z`` random starts); see :mod:`.bp`.
    n_quad : int
        Gauss-Hermite nodes for the CLT data term.
    prior : float
        Natural parameter λ0 of the Bernoulli prior (0 = uniform).
    init_scale : float in (0, 1)
        Initial means m ~ U(-init_scale, init_scale).
    momentum : float in [0, 1)
        Heavy-ball momentum added to either rule.
    clip_eps : float
        "huang" only: means are clipped to ±(1 - clip_eps).
    adam : bool
        "huang" only: Adam-rescaled steps (b1 0.9, b2 0.99).
    binarize : float or None
        None: X must hold ±1 values. A number t: X is real (e.g. pixel intensities in [0, 1]) and a unit is +1
        where X >= t, else -1 (``sign(0) = +1``; note ``>=``, where ``BernoulliNB`` uses ``>``).
    transform_mode : {"probability", "map", "predictive"}
        What :meth:`transform` returns: P(h_a = +1 | v) (float64) or the hidden MAP bits ±1 (int8, as the
        exported model's ``hidden_bits``), both from the MAP weights; or the posterior-predictive
        E_q[P(h_a = +1 | v, W)] (float64, :meth:`predictive_hidden`), the Bayesian hidden representation.
    ais_every : int
        Every this many epochs, record the AIS test log-likelihood (:meth:`score_samples`) of a fixed evaluation
        subset in ``history_`` (``ais_log_likelihood``, ``ais_log_z``, ``ais_log_z_se``, ``ais_ess``), and the
        check of the bound: ``ais_posterior_log_z`` (± ``ais_posterior_log_z_se``), the AIS ln Z averaged over
        ``POSTERIOR_SAMPLES`` = 2 weight matrices drawn from q(W), and ``bethe_gap`` = that minus the bound's
        Bethe ``log_partition`` (≈ how much the lower bound per sample overstates the ELBO; fit warns above 0.3
        nat per hidden unit). 0 = never (default: it costs ~15 CPU-s per evaluation at N = 784, P = 100 with the
        default AIS settings, three AIS runs). The AIS log-likelihood is that of the MAP weights, a different
        model from the posterior ensemble the bound scores: it need not rise when the bound does (README).
    ais_samples : int
        Size of that subset: the first rows of ``fit(..., eval_X=...)``, else a fixed random subset of X.
    ais_chains, ais_temperatures : int, int
        AIS chains (>= 2) and temperatures (>= 3) of :meth:`score_samples` (see :mod:`.ais`; the defaults are
        ``ais.DEFAULT_CHAINS`` and ``ais.DEFAULT_TEMPERATURES``).
    random_state : None, int or numpy.random.Generator
        Source of every random draw (initialisation, minibatch order, z-samples, AIS, Gibbs). An int gives the
        same bits on every run; None and a Generator are turned into an int seed in ``fit`` (``seed_``), which is
        what :meth:`save` records.
    verbose : int
        > 0: one line per epoch on stderr.
    visible_fields, hidden_fields : bool
        Learn the visible fields b (N,) / hidden fields c (P,) (biases). On by default: without c a hidden unit
        cannot set its own firing rate (the demo's fieldless 64-unit RBM had 40 of 64 units dead or always
        on); the seeds' planted experiments set both False (their teacher has no fields).
    field_rate : float in (0, 1]
        ρ of the fields' natural-gradient step (:mod:`lowprec_rbm.rules.fields`; Newton-like, so O(0.1) is
        stable whatever the data size); follows ``schedule``.
    field_prior : float > 0
        Precision τ0 of the Gaussian prior N(0, 1/τ0) on every field (a weak L2 pull).
    discriminative : float >= 0
        γ of the hybrid objective ELBO + γ Σ_s ln p(y_s | E_q[h(σ_s)]) (:mod:`.discriminative`): with γ > 0,
        ``fit(X, y)`` needs labels, and an auxiliary real softmax readout of the expected hidden bits is trained
        beside q(W) (Adam) so that the hidden MAP bits carry the class. 0 (default): the generative RBM.
    readout_rate : float > 0
        Adam step size of that auxiliary readout (follows ``schedule``; 0.01 is the rate of the measured
        Fashion-MNIST runs, README).

    Attributes
    ----------
    learning_rate_ : float
        The rate used.
    posterior_ : BernoulliPosterior
        Fitted q(W), natural parameters of shape (N, P).
    visible_field_, hidden_field_ : ndarray of shape (N,) / (P,) or None
        Fitted fields (None when not learned).
    history_ : list of dict
        One record per epoch (lower bound, KL, overlap with a teacher, BP convergence, AIS, seconds; with
        ``discriminative`` > 0 also ``readout_loss`` and ``readout_train_acc``, the auxiliary readout's mean
        cross-entropy and accuracy over the epoch's minibatches).
    classes_ : ndarray of shape (K,)
        With ``discriminative`` > 0: the labels seen in ``fit``, in increasing order.
    readout_coef_, readout_intercept_ : ndarray of shape (P, K) / (K,)
        With ``discriminative`` > 0: the auxiliary readout U, d (training state, not the deployable model: it is
        not written to the posterior file; train the deployable classifier on the MAP bits).
    n_visible_, n_features_in_ : int
        N.
    seed_ : int
        The seed every stream was spawned from.

    Examples
    --------
    >>> import numpy as np
    >>> from lowprec_rbm.rbm import BinaryRBM
    >>> X = np.where(np.random.default_rng(0).random((40, 12)) < 0.5, -1, 1)
    >>> rbm = BinaryRBM(n_hidden=3, epochs=2, random_state=0).fit(X)
    >>> rbm.transform(X).shape, rbm.gibbs(X[:2]).shape
    ((40, 3), (2, 12))
    """

    _estimator_type = "transformer"
    _parameter_constraints = {
        "n_hidden": [Interval(int, 1, None)],
        "beta": [Interval(float, 0, None, closed="neither")],
        "rule": [Options(*RULES)],
        "learning_rate": [Interval(float, 0, None, closed="neither"), None],
        "schedule": [Options("constant", "cosine")],
        "epochs": [Interval(int, 1, None)],
        "batch_size": [Interval(int, 1, None), None],
        "n_z": [Interval(int, 1, None)],
        "bp_damping": [Interval(float, 0, 1, closed="left")],
        "bp_tol": [Interval(float, 0, None, closed="neither")],
        "bp_max_iter": [Interval(int, 1, None)],
        "bp_dtype": [Options("float32", "float64")],
        "warm_start": ["boolean"],
        "partition": [Options(*PARTITIONS)],
        "n_quad": [Interval(int, 1, None)],
        "prior": [_finite_real],
        "init_scale": [Interval(float, 0, 1, closed="neither")],
        "momentum": [Interval(float, 0, 1, closed="left")],
        "clip_eps": [Interval(float, 0, 1, closed="neither")],
        "adam": ["boolean"],
        "binarize": [_finite_real, None],
        "transform_mode": [Options("probability", "map", "predictive")],
        "ais_every": [Interval(int, 0, None)],
        "ais_samples": [Interval(int, 1, None)],
        "ais_chains": [Interval(int, 2, None)],
        "ais_temperatures": [Interval(int, 3, None)],
        "random_state": ["random_state"],
        "verbose": [Interval(int, 0, None), "boolean"],
        "visible_fields": ["boolean"],
        "hidden_fields": ["boolean"],
        "field_rate": [Interval(float, 0, 1, closed="right")],
        "field_prior": [Interval(float, 0, None, closed="neither")],
        "discriminative": [Interval(float, 0, None, closed="left")],
        "readout_rate": [Interval(float, 0, None, closed="neither")],
    }

    def __init__(self, *, n_hidden: int = 64, beta: float = 1.0, rule: str = "blr",
                 learning_rate: float | None = None, schedule: str = "constant", epochs: int = 10,
                 batch_size: int | None = None, n_z: int = 8, bp_damping: float = 0.2, bp_tol: float = 1e-6,
                 bp_max_iter: int = 200, bp_dtype: str = "float32", warm_start: bool = True,
                 partition: str = "quenched", n_quad: int = 32, prior: float = 0.0,
                 init_scale: float = 0.5, momentum: float = 0.0, clip_eps: float = 1e-5, adam: bool = True,
                 binarize: float | None = None, transform_mode: str = "probability", ais_every: int = 0,
                 ais_samples: int = 256, ais_chains: int = 100, ais_temperatures: int = 3000,
                 random_state: Any = None, verbose: int = 0, visible_fields: bool = True,
                 hidden_fields: bool = True, field_rate: float = 0.1, field_prior: float = 1e-2,
                 discriminative: float = 0.0, readout_rate: float = 1e-2):
        self.n_hidden = n_hidden
        self.beta = beta
        self.rule = rule
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.epochs = epochs
        self.batch_size = batch_size
        self.n_z = n_z
        self.bp_damping = bp_damping
        self.bp_tol = bp_tol
        self.bp_max_iter = bp_max_iter
        self.bp_dtype = bp_dtype
        self.warm_start = warm_start
        self.partition = partition
        self.n_quad = n_quad
        self.prior = prior
        self.init_scale = init_scale
        self.momentum = momentum
        self.clip_eps = clip_eps
        self.adam = adam
        self.binarize = binarize
        self.transform_mode = transform_mode
        self.ais_every = ais_every
        self.ais_samples = ais_samples
        self.ais_chains = ais_chains
        self.ais_temperatures = ais_temperatures
        self.random_state = random_state
        self.verbose = verbose
        self.visible_fields = visible_fields
        self.hidden_fields = hidden_fields
        self.field_rate = field_rate
        self.field_prior = field_prior
        self.discriminative = discriminative
        self.readout_rate = readout_rate

    # -- parameters ---------------------------------------------------------------------------------------
    def __sklearn_tags__(self):  # only called by scikit-learn
        from sklearn.utils import TransformerTags

        tags = super().__sklearn_tags__()
        tags.transformer_tags = TransformerTags(preserves_dtype=[])
        return tags

    def __getstate__(self) -> dict[str, Any]:
        # In-memory pickling (joblib, scikit-learn's clone of fitted state): the learning rule is a pair of
        # closures, rebuilt by partial_fit from the posterior when absent. Files use save/load, never pickle.
        state = dict(self.__dict__)
        state.pop("_rule", None)
        state.pop("_field_rule", None)
        state.pop("_readout_rule", None)
        return state

    def _config(self) -> dict[str, Any]:
        """The hyper-parameters as JSON-able values (a None or Generator random_state as the seed it became)."""
        params = self.get_params()
        if not isinstance(params["random_state"], Integral) or isinstance(params["random_state"], bool):
            params["random_state"] = getattr(self, "seed_", None)
        else:
            params["random_state"] = int(params["random_state"])
        return params

    def _resolve_seed(self) -> int:
        rs = self.random_state
        if rs is None:
            return int(np.random.SeedSequence().entropy % 2 ** 63)
        if isinstance(rs, np.random.Generator):
            return int(rs.integers(2 ** 63))
        return int(rs)

    def _input(self, X: Any, n_visible: int | None = None, name: str = "X") -> np.ndarray:
        """X as int8 ±1 (M, N): checked as ±1 patterns, or binarised at ``binarize``."""
        if hasattr(X, "toarray") and hasattr(X, "nnz"):
            raise TypeError(f"{name}: sparse input is not supported (got {type(X).__name__}); pass X.toarray()")
        if not isinstance(X, np.ndarray) and hasattr(X, "__array__"):
            X = np.asarray(X)
        if isinstance(X, np.ndarray):
            if X.dtype.kind == "c":
                raise ValueError(f"{name}: Complex data not supported (got dtype {X.dtype})")
            if X.dtype == object:
                X = X.astype(np.float64)       # numbers stored as objects; anything else raises TypeError
            if X.ndim != 2:
                raise ValueError(f"{name} must have shape (M, N) (one pattern per row), got shape {X.shape}; "
                                 "Reshape your data with X.reshape(1, -1) for a single pattern")
            if X.shape[1] == 0 or X.shape[0] == 0:
                raise ValueError(f"{name} has {X.shape[0]} sample(s) and {X.shape[1]} feature(s) "
                                 f"(shape={X.shape}) while a minimum of 1 is required.")
        if self.binarize is None:
            X = check_patterns(X, None, name)
        elif not isinstance(X, np.ndarray):
            if not isinstance(X, (list, tuple)):
                raise TypeError(f"{name} must be a numpy array of numbers, got {type(X).__name__}")
            X = np.asarray(X)
        if self.binarize is not None:
            if X.dtype.kind not in "biuf":
                raise TypeError(f"{name} must be numeric, got dtype {X.dtype}")
            if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
                raise ValueError(f"{name} must have shape (M, N) with M, N >= 1, got shape {X.shape}")
            if X.dtype.kind == "f" and not np.all(np.isfinite(X)):
                raise ValueError(f"{name} contains NaN or infinite values")
            X = np.where(X >= self.binarize, 1, -1).astype(np.int8)
        if n_visible is not None and X.shape[1] != n_visible:
            raise ValueError(f"{name} has {X.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{n_visible} features as input")
        return X

    def _make_rule(self, total_steps: int):
        lr = self.learning_rate_
        # total_steps None: partial_fit's open-ended training, at a constant rate
        rate = schedules.cosine_decay(lr, total_steps) if self.schedule == "cosine" and total_steps else lr
        if self.rule == "blr":
            return blr(rate, lam0=self.prior, momentum=self.momentum)
        return huang(rate, eps=self.clip_eps, adam=self.adam, momentum=self.momentum, lam0=self.prior)

    def _make_field_rule(self, total_steps: int | None):
        # total_steps None: partial_fit's open-ended training, at a constant rate (as _make_rule)
        rate = (schedules.cosine_decay(self.field_rate, total_steps) if self.schedule == "cosine" and total_steps
                else self.field_rate)
        return field_natural_gradient(rate, self.field_prior)

    def _make_readout_rule(self, total_steps: int | None):
        rate = (schedules.cosine_decay(self.readout_rate, total_steps) if self.schedule == "cosine" and total_steps
                else self.readout_rate)
        return adam(rate)

    def _labels(self, y: Any, M: int, warm: bool) -> np.ndarray | None:
        """Class indices (M,) of ``y`` for the discriminative term (None when γ = 0); sets ``classes_``."""
        if not self.discriminative > 0:
            return None
        if y is None:
            raise ValueError(f"discriminative={self.discriminative} needs the labels: call fit(X, y)")
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != M:
            raise ValueError(f"y must have shape (M,) = ({M},) to match X, got shape {y.shape}")
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or infinite values")
        if warm and getattr(self, "classes_", None) is not None:
            idx = np.searchsorted(self.classes_, y)
            bad = (idx >= self.classes_.size) | (self.classes_[np.minimum(idx, self.classes_.size - 1)] != y)
            if np.any(bad):
                raise ValueError(f"y holds labels not seen in the first fit (e.g. {y[bad][0].item()!r}); "
                                 f"classes_ = {self.classes_.tolist()}")
            return idx
        self.classes_, codes = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError(f"the discriminative term needs at least 2 classes in y, got {self.classes_.size}")
        return codes.reshape(-1)

    def _streams(self) -> tuple[np.random.Generator, np.random.Generator]:
        train, evaluation = np.random.SeedSequence(self.seed_).spawn(2)
        return np.random.default_rng(train), np.random.default_rng(evaluation)

    def _aux_rng(self, which: int) -> np.random.Generator:
        """Streams beside training's two, spawned from ``seed_``: 2 = the AIS evaluation subset, 3 = the AIS
        draws of :meth:`score_samples` (the same draws on every call: common random numbers across epochs),
        4 = Gibbs seeds and initial states of :meth:`gibbs`/:meth:`sample` when no random_state is passed."""
        return np.random.default_rng(np.random.SeedSequence(self.seed_).spawn(which + 1)[which])

    def _bp_kwargs(self) -> dict[str, Any]:
        return {"damping": self.bp_damping, "tol": self.bp_tol, "max_iter": self.bp_max_iter,
                "dtype": np.dtype(self.bp_dtype).type}

    # -- training -----------------------------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: Any = None, *, teacher: np.ndarray | None = None, eval_X: Any = None,
            data_info: dict | None = None, on_epoch: Callable[[dict], None] | None = None,
            progress: Callable[..., Any] | None = None, checkpoint=None, resume: bool = False,
            stop: Callable[[], bool] | None = None) -> "BinaryRBM":
        """Train on ±1 patterns from a fresh start (``epochs`` passes).

        Parameters
        ----------
        X : ndarray, shape (M, N)
            ±1 patterns (int or float), or real values binarised at ``binarize`` when that is set.
        y : ignored
            Accepted for scikit-learn pipelines.
        eval_X : ndarray, shape (M', N), optional
            With ``ais_every`` > 0: held-out patterns whose first ``ais_samples`` rows are the fixed evaluation
            subset of the per-epoch AIS log-likelihood (default: a fixed random subset of X).
        teacher : ndarray (N, P), optional
            Planted weights: the history then records the overlap of the MAP weights with them.
        data_info : dict, optional
            JSON-able description of the data (source, binarisation threshold, ...) saved with the model and,
            with ``checkpoint``, compared on resume.
        on_epoch : callable, optional
            Called with each epoch's history record.
        progress : callable, optional
            ``progress(iterable, total=..., desc=...)`` wrapper for the step loop (e.g. a progress bar).
        checkpoint : path-like, optional
            Checkpoint file (:mod:`lowprec_rbm.checkpoint`), written atomically after every epoch and when
            ``stop()`` turns true; the caller deletes it once the model is saved.
        resume : bool
            Continue from ``checkpoint`` (same hyper-parameters, data and ``data_info`` required); the result
            is bit-identical to an uninterrupted fit.
        stop : callable, optional
            Polled before every minibatch step; when it returns True the state is checkpointed and
            :class:`~lowprec_rbm.checkpoint.TrainingInterrupted` is raised.
        """
        return self._fit(X, y, teacher=teacher, eval_X=eval_X, data_info=data_info, on_epoch=on_epoch,
                         progress=progress, checkpoint=checkpoint, resume=resume, stop=stop, warm=False)

    def partial_fit(self, X: np.ndarray, y: Any = None, *, eval_X: Any = None,
                    on_epoch: Callable[[dict], None] | None = None) -> "BinaryRBM":
        """One pass over X (minibatches of ``batch_size``) continuing from the current posterior.

        Before any fit it starts like :meth:`fit`; after ``fit``, ``partial_fit`` or :meth:`load` it keeps q(W),
        the rule's state and the learning rate, at a constant rate (no schedule: the number of future steps is
        unknown; after a ``schedule="cosine"`` fit the rule's state restarts at the constant rate), and appends
        one record to ``history_``. The data term is scaled as if X were the whole data
        set (M = len(X)), so calls on chunks of one data set weight each chunk as the whole.
        """
        return self._fit(X, y, eval_X=eval_X, on_epoch=on_epoch, warm=hasattr(self, "posterior_"), one_epoch=True)

    def fit_transform(self, X: np.ndarray, y: Any = None, **fit_params: Any) -> np.ndarray:
        """``fit(X, **fit_params)`` then ``transform(X)``."""
        return self.fit(X, y, **fit_params).transform(X)

    def _fit(self, X, y=None, *, teacher=None, eval_X=None, data_info=None, on_epoch=None, progress=None,
             checkpoint=None, resume=False, stop=None, warm: bool, one_epoch: bool = False) -> "BinaryRBM":
        self._validate_params()
        if resume and checkpoint is None:
            raise ValueError("resume=True needs the checkpoint path")
        if resume and not (isinstance(self.random_state, Integral) and not isinstance(self.random_state, bool)):
            raise ValueError("resume=True needs an int random_state (so the continued run repeats the draws)")
        X = self._input(X, self.n_visible_ if warm else None)
        M, N = X.shape
        P = self.posterior_.lam.shape[1] if warm else self.n_hidden
        labels = self._labels(y, M, warm)
        if teacher is not None:
            teacher = np.asarray(teacher)
            if teacher.shape != (N, P):
                raise ValueError(f"teacher must have shape (N, P) = {(N, P)}, got {teacher.shape}")
        B = M if self.batch_size is None else min(self.batch_size, M)
        steps_per_epoch = -(-M // B)
        n_epochs = 1 if one_epoch else self.epochs
        if warm:
            rng = getattr(self, "_rng_train", None)
            if rng is None:   # loaded from a file: a stream of its own per continuation
                rng = np.random.default_rng(np.random.SeedSequence([self.seed_, len(self.history_), 5]))
            if not hasattr(self, "learning_rate_"):
                self.learning_rate_ = float(self.learning_rate) if self.learning_rate is not None else (
                    auto_blr_rate(X, self.beta) if self.rule == "blr" else DEFAULT_LEARNING_RATE["huang"])
            if getattr(self, "_rule", None) is None or getattr(self, "_lam", None) is None:
                self._rule = self._make_rule(None)
                self._lam = self.posterior_.lam.copy()
                self._state = self._rule.init(self._lam)
                self._u = None
            elif self.schedule == "cosine" and not getattr(self, "_rule_open", False):
                # after a cosine-scheduled fit the rate has decayed to 0: continue at the constant rate, with the
                # rule's state (momentum, Adam moments) restarted
                self._rule = self._make_rule(None)
                self._state = self._rule.init(self._lam)
                self._field_rule = self._make_field_rule(None)
                self._field_state = self._field_rule.init(self._field_values)
            if getattr(self, "_field_values", None) is not None and getattr(self, "_field_rule", None) is None:
                self._field_rule = self._make_field_rule(None)    # unpickled: the rule's closures were dropped
            if getattr(self, "_field_values", None) is None:
                # loaded from a file: continue the fields it holds (the learned ones; a field the file lacks
                # stays absent, so a fieldless file keeps training the fieldless model)
                self._field_values = {k: getattr(self, f"{k}_field_").copy() for k in ("visible", "hidden")
                                if getattr(self, f"{k}_field_", None) is not None}
                self._field_rule = self._make_field_rule(None)
                self._field_state = self._field_rule.init(self._field_values)
            self._rule_open = True
            if not hasattr(self, "_eval_z"):
                self._init_eval(N)
        else:
            self.seed_ = self._resolve_seed()
            rng = self._streams()[0]
            if self.learning_rate is not None:
                self.learning_rate_ = float(self.learning_rate)
            else:
                self.learning_rate_ = (auto_blr_rate(X, self.beta) if self.rule == "blr"
                                       else DEFAULT_LEARNING_RATE["huang"])
            self._rule = self._make_rule(None if one_epoch else n_epochs * steps_per_epoch)
            self._rule_open = one_epoch          # built by partial_fit: constant rate, open-ended
            self._lam = np.arctanh(rng.uniform(-self.init_scale, self.init_scale, size=(N, P)))
            self._state = self._rule.init(self._lam)
            # Fields start at 0 (the seeds' model) and only the enabled ones are learned.
            self._field_values = {k: np.zeros(n) for k, n, on in (("visible", N, self.visible_fields),
                                                              ("hidden", P, self.hidden_fields)) if on}
            self._field_rule = self._make_field_rule(None if one_epoch else n_epochs * steps_per_epoch)
            self._field_state = self._field_rule.init(self._field_values)
            self._u = None
            self.n_visible_ = N
            self.n_features_in_ = N
            self.data_info_ = dict(data_info or {})
            self._init_eval(N)
            self.history_ = []
        self._rng_train = rng
        if labels is None:
            self._readout = None
        elif not warm or getattr(self, "_readout", None) is None:
            # a fresh readout (also after load: the posterior file does not hold it), from its own stream
            U, d = init_readout(P, self.classes_.size, self._aux_rng(7))
            self._readout = {"weights": U, "bias": d}
            self._readout_rule = self._make_readout_rule(None if warm or one_epoch else n_epochs * steps_per_epoch)
            self._readout_state = self._readout_rule.init(self._readout)
        elif (getattr(self, "_readout_rule", None) is None
              or (self.schedule == "cosine" and not getattr(self, "_readout_open", False))):
            # continuing after unpickling or after a cosine-scheduled fit: constant rate, Adam restarted (as q's rule)
            self._readout_rule = self._make_readout_rule(None)
            self._readout_state = self._readout_rule.init(self._readout)
        self._readout_open = warm or one_epoch
        ais_X = self._ais_subset(X, eval_X) if self.ais_every else None
        config = {k: v for k, v in self._config().items() if k not in ("verbose", "transform_mode")}
        digested = [X] + ([] if teacher is None else [teacher]) + ([] if labels is None else [labels])
        identity = ckpt.jsonable({**config, "learning_rate_used": self.learning_rate_,
                                  "data_sha256": ckpt.data_digest(*digested),
                                  "data": self.data_info_})
        start_epoch, position, order = len(self.history_) + 1, None, None
        end_epoch = start_epoch + n_epochs - 1
        if resume:
            arrays, meta = ckpt.load_checkpoint(checkpoint, "rbm")
            ckpt.check_config(meta["config"], identity, checkpoint)
            self._restore(arrays, meta, rng)
            start_epoch, position = int(meta["epoch"]) + 1, meta.get("position")
            order = arrays.get("order")
            map_before = arrays.get("map_before")
            if int(meta["epoch"]) >= 1:
                self._set_fitted()
        bar = progress if progress is not None else (lambda it, **kw: it)
        for epoch in range(start_epoch, end_epoch + 1):
            if position is not None:
                # Resuming inside an epoch: its order, MAP-at-start and per-step BP records were checkpointed.
                s0, iters, residuals, conv, spent = (position["step"], position["iters"], position["residuals"],
                                                     position["conv"], position["seconds"])
                readout_sums = position.get("readout", [0.0, 0, 0])
                position = None
            else:
                order = rng.permutation(M) if B < M else np.arange(M)
                map_before = self._lam >= 0
                s0, iters, residuals, conv, spent = 0, [], [], [], 0.0
                readout_sums = [0.0, 0, 0]      # the readout's summed loss, correct labels, patterns this epoch
            t0 = time.perf_counter()
            for step in bar(range(s0, steps_per_epoch), total=steps_per_epoch - s0,
                            desc=f"epoch {epoch}/{end_epoch}"):
                if stop is not None and stop():
                    if checkpoint is None:
                        raise KeyboardInterrupt
                    self._save_checkpoint(checkpoint, identity, rng, epoch - 1,
                                          {"step": step, "iters": iters, "residuals": residuals, "conv": conv,
                                           "seconds": spent + time.perf_counter() - t0, "readout": readout_sums},
                                          {"order": order, "map_before": map_before})
                    raise ckpt.TrainingInterrupted(checkpoint, epoch - 1, step, steps_per_epoch, end_epoch)
                rows = order[step * B:(step + 1) * B]
                bp, disc = self._step(X[rows], M, rng, None if labels is None else labels[rows])
                if disc is not None:
                    readout_sums = [readout_sums[0] + disc.loss, readout_sums[1] + disc.correct,
                                    readout_sums[2] + rows.size]
                if not np.all(np.isfinite(self._lam)):
                    raise FloatingPointError(f"natural parameters became non-finite at epoch {epoch}, step "
                                             f"{step}; lower the learning rate (now {self.learning_rate_})")
                iters.append(int(bp.iterations))
                residuals.append(float(bp.residual.max()))
                conv.append(float(bp.converged.mean()))
            lam = self._lam
            self._set_fitted()
            record = {"epoch": epoch, "steps": epoch * steps_per_epoch,
                      "map_flips": int(np.sum((lam >= 0) != map_before)),
                      "bp_iterations_mean": float(np.mean(iters)), "bp_iterations_max": int(np.max(iters)),
                      "bp_residual_max": float(np.max(residuals)), "bp_converged_fraction": float(np.mean(conv)),
                      "bp_all_converged": bool(np.min(conv) == 1.0)}
            if labels is not None:
                record["readout_loss"] = readout_sums[0] / readout_sums[2]
                record["readout_train_acc"] = readout_sums[1] / readout_sums[2]
            record.update(self._bound_terms(X))
            if record["lb_bp_restart_gain"] > 0:
                self._u = None       # training's carried messages were in the metastable state too: start afresh
            activity = self.hidden_activity(X)
            record.update({k: activity[k] for k in ("dead_units", "saturated_units", "dead", "saturated")})
            if teacher is not None:
                q, per, _ = overlap(teacher, self.posterior_.map())
                record["overlap"] = q
                record["overlap_per_unit"] = [float(v) for v in per]
            record["seconds"] = spent + time.perf_counter() - t0
            if ais_X is not None and epoch % self.ais_every == 0:
                record.update(self._ais_record(ais_X, record["log_partition"]))
            self.history_.append(record)
            if self.verbose:
                print(self._epoch_line(record), file=sys.stderr, flush=True)
            if checkpoint is not None:
                self._save_checkpoint(checkpoint, identity, rng, epoch, None, {})
            if on_epoch is not None:
                on_epoch(record)
        over = [(r["epoch"], r["bethe_gap"])
                for r in self.history_[start_epoch - 1:] if "bethe_gap" in r
                and r["bethe_gap"] > BETHE_GAP_WARN_PER_UNIT * P + 3 * r["ais_posterior_log_z_se"]]
        if over:
            e, gap = max(over, key=lambda t: t[1])
            warnings.warn(f"the lower bound overstates the ELBO: the Bethe <ln Z> was {gap:.1f} nats per sample below "
                          f"the AIS ln Z of posterior weight samples in epoch {e} (epochs {[t[0] for t in over][:10]} "
                          f"exceed {BETHE_GAP_WARN_PER_UNIT} nat per hidden unit); see history_ (bethe_gap) and compare "
                          "models by ais_log_likelihood, not by the bound", RuntimeWarning, stacklevel=2)
        failed = [r["epoch"] for r in self.history_[start_epoch - 1:]
                  if not (r["bp_all_converged"] and r["lb_bp_converged"])]
        if failed:
            warnings.warn(f"BP did not reach tol={self.bp_tol} within {self.bp_max_iter} iterations in some runs "
                          f"of epochs {failed[:10]}{'...' if len(failed) > 10 else ''}; see history_ "
                          "(bp_converged_fraction, bp_residual_max); raise bp_max_iter or bp_damping",
                          RuntimeWarning, stacklevel=2)
        return self

    # -- checkpoints --------------------------------------------------------------------------------------
    def _save_checkpoint(self, path, identity, rng, epochs_done, position, extra) -> None:
        arrays: dict[str, np.ndarray] = {k: np.asarray(v) for k, v in extra.items()}
        trees = {name: ckpt.pack_tree(getattr(self, attr), name, arrays)
                 for name, attr in (("lam", "_lam"), ("rule_state", "_state"), ("bp_messages", "_u"),
                                    ("eval_messages", "_eval_u"), ("fields", "_field_values"),
                                    ("field_state", "_field_state"), ("readout", "_readout"),
                                    ("readout_state", "_readout_state"))
                 if name not in ("readout", "readout_state") or self._readout is not None}
        meta = {"config": identity, "epoch": int(epochs_done), "position": position, "history": self.history_,
                "rng": {"train": ckpt.rng_state(rng)}, "trees": trees}
        ckpt.save_checkpoint(path, "rbm", arrays, meta)

    def _restore(self, arrays, meta, rng) -> None:
        trees = meta.get("trees", {})
        try:
            self._lam = ckpt.unpack_tree(trees["lam"], arrays, self._lam, "lam")
            self._state = ckpt.unpack_tree(trees["rule_state"], arrays, self._state, "rule_state")
            # BP messages: None before the first step (and with warm_start off), else arrays of the BP dtype.
            self._u = ckpt.unpack_tree(trees["bp_messages"], arrays, ckpt.ANY, "bp_messages")
            self._eval_u = ckpt.unpack_tree(trees["eval_messages"], arrays, ckpt.ANY, "eval_messages")
            self._field_values = ckpt.unpack_tree(trees["fields"], arrays, self._field_values, "fields")
            prec, step = ckpt.unpack_tree(trees["field_state"], arrays, ckpt.ANY, "field_state")
            self._field_state = FieldState(prec, int(step))
            if self._readout is not None:
                self._readout = ckpt.unpack_tree(trees["readout"], arrays, self._readout, "readout")
                self._readout_state = ckpt.unpack_tree(trees["readout_state"], arrays, self._readout_state,
                                                       "readout_state")
            ckpt.set_rng_state(rng, meta["rng"]["train"], "rng 'train'")
        except KeyError as exc:
            raise ValueError(f"checkpoint lacks the entry {exc}") from None
        self.history_ = list(meta["history"])

    def _step(self, batch: np.ndarray, n_total: int, rng: np.random.Generator, labels: np.ndarray | None = None):
        """One update from a minibatch: g = (M/B) ∇(data term) - M ∇<ln Z> (- γ (M/B) ∇ cross-entropy with
        labels), then the rules. Returns the BP run and the label term (None without labels).

        Weights, fields and the readout are updated from the same gradient evaluation (at the old values of
        all), so one step is the joint natural-gradient step of q(W) q(b, c)."""
        m = np.tanh(self._lam)
        vf, hf = self._field_values.get("visible"), self._field_values.get("hidden")
        data = data_term_fields(batch, m, self.beta, self.n_quad, visible_field=vf, hidden_field=hf)
        part = self._partition(m, rng, self._u if self.warm_start else None, fields=(vf, hf))
        self._u = part.bp.u
        scale = n_total / batch.shape[0]
        grads = scale * data.grad - n_total * part.grad
        disc = None
        if labels is not None:
            # the hybrid objective's label term, γ Σ_s ln p(y_s | v_s) over the data set, estimated like the
            # data term from the minibatch (scale M/B); ascent on -cross-entropy
            disc = discriminative_term(batch, labels, m, hf, self._readout["weights"], self._readout["bias"],
                                       self.beta)
            grads -= (self.discriminative * scale) * disc.grad_m
            # the readout by Adam on the minibatch's mean cross-entropy (rules ascend: negated gradient)
            step_r, self._readout_state = self._readout_rule.update(
                {"weights": -disc.grad_weights / batch.shape[0], "bias": -disc.grad_bias / batch.shape[0]},
                self._readout_state, self._readout)
            self._readout = apply_updates(self._readout, step_r)
        if self._field_values:
            fm = part.fields
            g = {"visible": scale * data.grad_visible - n_total * fm.grad_visible,
                 "hidden": scale * data.grad_hidden - n_total * fm.grad_hidden}
            fisher = {"visible": field_fisher(n_total, self.beta, fm.var_visible, data.var_visible),
                      "hidden": field_fisher(n_total, self.beta, fm.var_hidden, data.var_hidden)}
            if disc is not None:
                # the hidden fields get the label term's gradient, and its Gauss-Newton curvature joins the
                # Fisher that scales their Newton-like step (a Newton step of the hybrid objective)
                g["hidden"] = g["hidden"] - (self.discriminative * scale) * disc.grad_hidden
                fisher["hidden"] = fisher["hidden"] + (self.discriminative * scale) * disc.curv_hidden
            keys = list(self._field_values)
            self._field_values, self._field_state = self._field_rule.update(
                {k: g[k] for k in keys}, {k: fisher[k] for k in keys}, self._field_state, self._field_values)
            if not all(np.all(np.isfinite(v)) for v in self._field_values.values()):
                raise FloatingPointError("fields became non-finite; lower field_rate "
                                         f"(now {self.field_rate}) or raise field_prior")
        updates, self._state = self._rule.update(grads, self._state, self._lam)
        self._lam = apply_updates(self._lam, updates)
        return part.bp, disc

    def _set_fitted(self) -> None:
        self.posterior_ = BernoulliPosterior(self._lam.copy())
        if getattr(self, "_readout", None) is not None:
            self.readout_coef_ = self._readout["weights"].copy()
            self.readout_intercept_ = self._readout["bias"].copy()
        self.visible_field_ = self._field_values["visible"].copy() if "visible" in self._field_values else None
        self.hidden_field_ = self._field_values["hidden"].copy() if "hidden" in self._field_values else None

    # -- evaluation ---------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        check_is_fitted(self, "posterior_")

    # -- the public model: MAP weights (and fields) -----------------------------------------------------------
    def _map_weights(self) -> np.ndarray:
        """±1 MAP weights sign(λ) (N, P) as int8 (sign(0) = +1)."""
        return self.posterior_.map()

    def _fields(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(visible field (N,), hidden field (P,)) in units of the exponent, None where the model has none:
        β·b and β·c (the energy is -β(σᵀWh/√N + bᵀσ + cᵀh); ``visible_field_``/``hidden_field_`` are b, c).
        β·c is computed once here, so β X/√N + β c has the float64 bits of the exported tables and thresholds
        (``export.network.rbm_hidden_argument``)."""
        b, c = self.fields_()
        return (None if b is None else self.beta * b), (None if c is None else self.beta * c)

    def _hidden_input(self, X: np.ndarray) -> np.ndarray:
        """β X_a(σ)/√N + c_a for each row: the argument of P(h_a = +1 | σ) = sigmoid(2 ·)."""
        W = self._map_weights().astype(np.float64)
        x = self.beta * (X.astype(np.float64) @ W) / math.sqrt(W.shape[0])
        c = self._fields()[1]
        return x if c is None else x + c

    def transform(self, X: Any) -> np.ndarray:
        """Hidden representation of X (M, N): P(h_a = +1 | v) = sigmoid(2(β X_a(v)/√N + c_a)) as float64 (M, P),
        or with ``transform_mode="map"`` the hidden MAP bits (+1 where that probability is >= 1/2) as int8 ±1;
        both from the MAP weights."""
        self._check_fitted()
        X = self._input(X, self.n_visible_)
        if self.transform_mode == "predictive":
            return self._predictive(X)
        x = self._hidden_input(X)
        if self.transform_mode == "map":
            return np.where(x >= 0, 1, -1).astype(np.int8)
        return 0.5 * (1.0 + np.tanh(x))

    def predictive_hidden(self, X: Any, n_quad: int | None = None) -> np.ndarray:
        """Posterior-predictive hidden representation E_q[P(h_a = +1 | v, W)] of X (M, N), float64 (M, P).

        Under q(W) = Π (1 + m W)/2 the field X_a(v) = Σ_i W_ia v_i / √N is a sum of N independent terms of mean
        m_ia v_i / √N and variance (1 - m_ia²) v_i² / N, so by the CLT (as the training's data term,
        :mod:`.clt`) X_a ~ N(G_a, Ξ_a²), G_a = Σ_i m_ia v_i / √N, Ξ_a² = Σ_i (1 - m_ia²) / N (v_i² = 1), and

            E_q sigmoid(2β(X_a + c_a)) ≈ ∫Dz sigmoid(2β(G_a + c_a + Ξ_a z)),

        evaluated by ``n_quad``-node Gauss-Hermite quadrature (default the model's ``n_quad``; the integrand is
        smooth, so the quadrature error is far below the CLT's O(1/√N) error). Unlike :meth:`transform`'s
        default this uses the posterior means m, not sign(m): it is the Bayesian feature map, not the
        deployable one (the exported model computes the MAP bits)."""
        self._check_fitted()
        X = self._input(X, self.n_visible_)
        return self._predictive(X, n_quad)

    def _predictive(self, X: np.ndarray, n_quad: int | None = None, chunk: int = 2048) -> np.ndarray:
        from lowprec_rbm.rbm.clt import field_std, gauss_hermite

        nodes, weights = gauss_hermite(self.n_quad if n_quad is None else _count(n_quad, "n_quad", 1))
        m = self.posterior_.mean
        N = m.shape[0]
        xi = field_std(m)                                                  # Ξ_a, (P,)
        c = self._fields()[1]                                              # β c_a (None: no hidden fields)
        out = np.empty((X.shape[0], m.shape[1]))
        for lo in range(0, X.shape[0], chunk):
            a = self.beta * (X[lo:lo + chunk].astype(np.float64) @ m) / math.sqrt(N)
            if c is not None:
                a += c
            # sigmoid(2u) = (1 + tanh u)/2, u = β(G + c + Ξz) at each node; weights sum to 1
            t = np.tanh(a[:, :, None] + (self.beta * xi)[None, :, None] * nodes[None, None, :])
            out[lo:lo + chunk] = 0.5 * (1.0 + t @ weights)
        return out

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-likelihood ln p(v) of each row of X (M, N) under the MAP-weight model, in nats (M,).

        The hidden units are summed out exactly; ln Z is estimated by annealed importance sampling
        (:mod:`lowprec_rbm.rbm.ais`, ``ais_chains`` chains over ``ais_temperatures`` temperatures, draws fixed
        per ``seed_`` so repeated calls agree). The estimate and its standard error, common to every sample, are
        in ``log_z_`` (an :class:`~lowprec_rbm.rbm.ais.AISResult`); tested against exact enumeration on tiny
        models. (scikit-learn's ``BernoulliRBM.score_samples`` is a pseudo-likelihood instead.)
        """
        from lowprec_rbm.rbm import ais

        self._check_fitted()
        X = self._input(X, self.n_visible_)
        W = self._map_weights()
        b, c = self._fields()
        key = (W.tobytes(), None if b is None else b.tobytes(), None if c is None else c.tobytes(), self.beta,
               self.ais_chains, self.ais_temperatures, self.seed_)
        cached = getattr(self, "_log_z_cache", None)
        if cached is None or cached[0] != key:
            res = ais.ais_log_partition(ais.binary_couplings(W, self.beta), visible_field=b, hidden_field=c,
                                        n_chains=self.ais_chains, n_temperatures=self.ais_temperatures,
                                        random_state=self._aux_rng(3))
            self._log_z_cache = (key, res)
        self.log_z_ = self._log_z_cache[1]
        ll, _ = ais.log_likelihood(X, W, beta=self.beta, visible_field=b, hidden_field=c, log_z=self.log_z_)
        return ll

    def score(self, X: Any, y: Any = None) -> float:
        """Mean AIS log-likelihood per sample of X (nats; see :meth:`score_samples`)."""
        return float(np.mean(self.score_samples(X)))

    def _ais_subset(self, X: np.ndarray, eval_X: Any) -> np.ndarray:
        if eval_X is not None:
            return self._input(eval_X, X.shape[1], "eval_X")[:self.ais_samples]
        if X.shape[0] <= self.ais_samples:
            return X
        return X[np.sort(self._aux_rng(2).choice(X.shape[0], self.ais_samples, replace=False))]

    def _ais_record(self, X: np.ndarray, bethe_log_z: float) -> dict[str, Any]:
        t0 = time.perf_counter()
        ll = self.score_samples(X)
        rec = {"ais_log_likelihood": float(ll.mean()), "ais_log_z": self.log_z_.log_z,
               "ais_log_z_se": self.log_z_.log_z_se, "ais_ess": self.log_z_.ess, "ais_samples": int(len(X))}
        rec.update(self._posterior_log_z())
        rec["bethe_gap"] = rec["ais_posterior_log_z"] - bethe_log_z
        rec["ais_seconds"] = time.perf_counter() - t0
        return rec

    def _posterior_log_z(self) -> dict[str, float]:
        """AIS ln Z of ``POSTERIOR_SAMPLES`` weight matrices drawn from q(W) (stream 6 of ``seed_``: the same
        draws every epoch), i.e. an estimate of the E_q ln Z(W) that the bound's Bethe term approximates.

        The bound's other parts are exact (KL) or close (the CLT data term: within 4 nats per image of the
        exact E_q data term on the 784-32/64 runs of the README), so ``bethe_gap`` = this - ``log_partition`` is
        about how much the lower bound per sample overstates the true ELBO. The standard error combines the
        spread over the samples and each AIS run's error."""
        from lowprec_rbm.rbm import ais

        rng = self._aux_rng(6)
        m = self.posterior_.mean
        b, c = self._fields()
        draws = np.where(rng.random((POSTERIOR_SAMPLES,) + m.shape) < (1.0 + m) / 2.0, 1, -1).astype(np.int8)
        vals, ses = [], []
        for W in draws:
            res = ais.ais_log_partition(ais.binary_couplings(W, self.beta), visible_field=b, hidden_field=c,
                                        n_chains=self.ais_chains, n_temperatures=self.ais_temperatures,
                                        random_state=rng)
            vals.append(res.log_z)
            ses.append(res.log_z_se)
        n = len(vals)
        se = math.sqrt(float(np.var(vals, ddof=1)) / n + float(np.mean(np.square(ses))) / n)
        return {"ais_posterior_log_z": float(np.mean(vals)), "ais_posterior_log_z_se": se}

    @staticmethod
    def _epoch_line(rec: dict) -> str:
        ais_part = (f"  AIS ln p/sample {rec['ais_log_likelihood']:.3f} ± {rec['ais_log_z_se']:.3f}"
                    f"  Bethe gap {rec['bethe_gap']:.2f} ± {rec['ais_posterior_log_z_se']:.2f}"
                    if "ais_log_likelihood" in rec else "")
        return (f"epoch {rec['epoch']:3d}  lower bound/sample {rec['lower_bound_per_sample']:.3f}  "
                f"KL {rec['kl']:.1f}  MAP flips {rec['map_flips']}{ais_part}  {rec['seconds']:.1f}s")

    # -- generation -----------------------------------------------------------------------------------------
    def _gibbs_seeds(self, n: int, random_state: Any) -> tuple[np.random.Generator, np.ndarray]:
        rng = self._aux_rng(4) if random_state is None else check_random_state(random_state)
        return rng, rng.integers(0, 2 ** 32, size=n, dtype=np.uint32)

    def gibbs(self, v: Any, *, n_steps: int = 1, seeds: Any = None, random_state: Any = None) -> np.ndarray:
        """``n_steps`` Gibbs sweeps v -> h -> v from ±1 rows v (M, N) with the MAP weights; int8 ±1 (M, N).

        The draws follow the exported sampler's counter-based PRNG (:mod:`lowprec_rbm.rbm.sampling`): with the
        same uint32 ``seeds`` (one per row) the result equals the exported graph's bit for bit. Without
        ``seeds`` they are drawn from ``random_state`` (default: a stream fixed by ``seed_``, so repeated calls
        repeat; pass a Generator for fresh draws).
        """
        from lowprec_rbm.rbm.sampling import gibbs_chain

        self._check_fitted()
        v = self._input(v, self.n_visible_, "v")
        n_steps = _count(n_steps, "n_steps", 0)
        if seeds is None:
            seeds = self._gibbs_seeds(v.shape[0], random_state)[1]
        else:
            seeds = np.asarray(seeds)
            if seeds.dtype != np.uint32 or seeds.shape != (v.shape[0],):
                raise ValueError(f"seeds must be uint32 of shape ({v.shape[0]},) (one per row of v), "
                                 f"got {seeds.dtype} {seeds.shape}")
        b, c = self._fields()
        return gibbs_chain(self._map_weights(), self.beta, v, seeds, n_steps, visible_field=b, hidden_field=c)

    def sample_start(self, n_samples: int, random_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """The chains' start of :meth:`sample`: uniform random ±1 states (int8 (n, N)) and uint32 row seeds
        (n,), both from ``random_state`` (seeds first). Running the exported sampler from them (blocks of
        :data:`~lowprec_rbm.rbm.sampling.BLOCK` steps) reproduces :meth:`sample` bit for bit."""
        self._check_fitted()
        n_samples = _count(n_samples, "n_samples", 1)
        rng, seeds = self._gibbs_seeds(n_samples, random_state)
        v0 = np.where(rng.random((n_samples, self.n_visible_)) < 0.5, -1, 1).astype(np.int8)
        return v0, seeds

    def sample(self, n_samples: int = 1, *, n_steps: int = 1000, random_state: Any = None,
               progress: Callable[[int, int], Any] | None = None) -> np.ndarray:
        """``n_samples`` visible states (int8 ±1, (n_samples, N)) after ``n_steps`` Gibbs sweeps from uniform
        random starts, with the MAP weights (approximate samples of p(v): the chain mixes as far as n_steps
        allows). Randomness from ``random_state`` (default: a stream fixed by ``seed_``)."""
        from lowprec_rbm.rbm.sampling import gibbs_chain

        self._check_fitted()
        n_steps = _count(n_steps, "n_steps", 0)
        v0, seeds = self.sample_start(n_samples, random_state)
        b, c = self._fields()
        return gibbs_chain(self._map_weights(), self.beta, v0, seeds, n_steps, visible_field=b, hidden_field=c,
                           progress=progress)

    def _partition(self, m: np.ndarray, rng: np.random.Generator | None, u0: np.ndarray | None,
                   grad: bool = True, fields: tuple = (None, None), restart: bool = False):
        """The log-partition term at means m and fields (b, c). ``rng`` None = the fixed evaluation draws.
        ``restart``: also BP from zero messages, keeping the fixed point with the larger Bethe ln Z (bp doc)."""
        N, P = m.shape
        kw = dict(grad=grad, visible_field=fields[0], hidden_field=fields[1], restart=restart, **self._bp_kwargs())
        if self.partition == "quenched":
            z = self._eval_z if rng is None else rng.standard_normal((self.n_z, P))
            return partition_term(m, self.beta, z, u0, **kw)
        if u0 is None:
            # Random starting messages (θ = 0 keeps u = 0 a fixed point); evaluation starts are fixed per seed.
            u0 = (self._eval_u0 if rng is None else rng.standard_normal((self.n_z, N, P))) * 0.3
        return annealed_partition_term(m, self.beta, u0, **kw)

    def _init_eval(self, N: int) -> None:
        eval_rng = self._streams()[1]
        self._eval_z = eval_rng.standard_normal((self.n_z, self.n_hidden))
        self._eval_u0 = eval_rng.standard_normal((self.n_z, N, self.n_hidden))
        self._eval_u = None

    def _bound_terms(self, X: np.ndarray) -> dict[str, Any]:
        m = self.posterior_.mean
        M = X.shape[0]
        fields = self.fields_()
        data = data_term_fields(X, m, self.beta, self.n_quad, grad=False, visible_field=fields[0],
                                hidden_field=fields[1]).value
        # Warm-started BP can sit in a metastable fixed point (lower Bethe ln Z: the bound reads too high); the
        # restart from zero messages finds the better one when it exists (fit then restarts training's BP too).
        part = self._partition(m, None, self._eval_u, grad=False, fields=fields, restart=True)
        self._eval_u = part.bp.u
        kl = self.posterior_.kl(self.prior)
        lb = data - M * part.value - kl
        return {"lower_bound": float(lb), "lower_bound_per_sample": float(lb / M), "data_term": float(data),
                "log_partition": float(part.value), "kl": float(kl),
                "lb_bp_iterations": int(part.bp.iterations), "lb_bp_residual": float(part.bp.residual.max()),
                "lb_bp_converged": bool(part.bp.converged.all()), "lb_bp_restart_gain": float(part.restart_gain)}

    def lower_bound(self, X: np.ndarray, return_terms: bool = False) -> float | dict[str, Any]:
        """Estimate of the ELBO on patterns X (M, N): CLT data term - M <ln Z_Bethe>_z - KL.

        The z-samples are fixed per seed (common random numbers), so differences between models are not
        z-noise. With ``return_terms`` a dict with the parts and the BP convergence report is returned.
        """
        self._check_fitted()
        X = check_patterns(X, self.n_visible_)
        if not hasattr(self, "_eval_z"):
            self._init_eval(self.n_visible_)
        terms = self._bound_terms(X)
        return terms if return_terms else terms["lower_bound"]

    def fields_(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(visible_field_, hidden_field_), each None when not learned (or not fitted yet)."""
        return getattr(self, "visible_field_", None), getattr(self, "hidden_field_", None)

    def hidden_map_bits(self, X: np.ndarray) -> np.ndarray:
        """MAP hidden bits sign(β Σ_i σ_i ξ_ia / √N + β c_a) (int8 ±1, shape (M, P); sign(0) = +1) with ξ = sign(m),
        the bits the exported feature extractor computes (``transform_mode="map"``'s, for ±1 input)."""
        self._check_fitted()
        X = check_patterns(X, self.n_visible_)
        return np.where(self._hidden_input(X) >= 0, 1, -1).astype(np.int8)

    def hidden_activity(self, X: np.ndarray) -> dict[str, Any]:
        """Dead (MAP bit -1 on every pattern of X) and saturated (+1 on every pattern) hidden units.

        Returns ``dead_units``, ``saturated_units`` (counts), ``dead``, ``saturated`` (unit indices) and
        ``firing_rate`` (per unit, the fraction of patterns with bit +1)."""
        rate = (self.hidden_map_bits(X) > 0).mean(axis=0)
        dead, sat = np.flatnonzero(rate == 0.0), np.flatnonzero(rate == 1.0)
        return {"dead_units": int(dead.size), "saturated_units": int(sat.size), "dead": dead.tolist(),
                "saturated": sat.tolist(), "firing_rate": [round(float(r), 6) for r in rate]}

    def receptive_fields(self) -> np.ndarray:
        """MAP weights sign(m) as int8 (P, N): one row per hidden unit (sign(0) = +1)."""
        self._check_fitted()
        return self.posterior_.map().T.copy()

    # -- persistence --------------------------------------------------------------------------------------
    def save(self, path) -> Any:
        """Write the posterior file (kind "rbm"): array ``lam`` (N, P); meta config, data, history."""
        from lowprec_rbm.posterior_file import save_posterior

        return save_posterior(path, *self._posterior())

    def _posterior(self) -> tuple[dict, dict]:
        """The posterior file's (arrays, meta), as :meth:`save` writes them."""
        self._check_fitted()
        config = self._config()
        config["learning_rate_used"] = self.learning_rate_
        config["n_visible"] = self.n_visible_
        config["data_source"] = self.data_info_.get("source")
        config["binarize_threshold"] = self.data_info_.get("binarize_threshold")
        arrays = {"lam": self.posterior_.lam}
        described = {"lam": "natural parameters (N, P); m = tanh(lam); MAP weight = +1 where lam >= 0"}
        vf, hf = self.fields_()
        if vf is not None:
            arrays["visible_field"] = vf
            described["visible_field"] = "visible fields b (N,), energy term -beta sum_i b_i s_i"
        if hf is not None:
            arrays["hidden_field"] = hf
            described["hidden_field"] = "hidden fields c (P,), energy term -beta sum_a c_a h_a"
        meta = {"kind": "rbm", "config": config, "data": self.data_info_, "history": self.history_,
                "model": "binary-synapse RBM, energy -beta (sum_ia s_i W_ia h_a / sqrt(N) + sum_i b_i s_i + "
                         "sum_a c_a h_a); a field absent from the arrays is 0",
                "arrays": described}
        return arrays, meta

    def to_onnx(self, path=None, *, mode: str = "map", random_state: int | None = None, gibbs_steps: int = 1,
                pixels: bool | None = None, standard_ops: bool = False):
        """Export the deployable RBM (MAP hidden bits, Gibbs sampler) as packed-bit ONNX: the same file
        ``lowprec export`` writes from this estimator's saved posterior.

        Parameters
        ----------
        path : path-like, optional
            Where to write the model (atomically); None only returns it.
        mode : {"map", "sample"}
            MAP weights, or one weight matrix drawn from the posterior with ``numpy.random.default_rng(random_state)``.
        random_state : int >= 0, optional
            Seed of ``mode="sample"`` (default 0, as the CLI's); not allowed with ``mode="map"``.
        gibbs_steps : int >= 0
            Gibbs steps unrolled into the sampler graph.
        pixels : bool, optional
            Input as 8-bit pixels (binarised in the graph) or as ±1 bits; None: as the posterior's data says.
        standard_ops : bool
            Inline every ``lowprec`` op into standard ONNX ops.

        Returns
        -------
        onnx.ModelProto

        Examples
        --------
        >>> import numpy as np
        >>> from lowprec_rbm import BinaryRBM
        >>> X = np.random.default_rng(0).choice([-1, 1], size=(40, 12)).astype(np.int8)
        >>> rbm = BinaryRBM(n_hidden=3, epochs=1, random_state=0).fit(X)
        >>> model = rbm.to_onnx(gibbs_steps=2)
        >>> [i.name for i in model.graph.input], "hidden_bits" in [o.name for o in model.graph.output]
        (['v', 'seeds'], True)
        """
        import json

        from lowprec_rbm.derive import posterior_to_onnx

        arrays, meta = self._posterior()
        # The header exactly as the file holds it (a JSON round trip: tuples become lists, as in the file).
        meta = json.loads(json.dumps(meta, sort_keys=True, allow_nan=False))
        kw = {} if pixels is None else {"pixels": bool(pixels)}
        return posterior_to_onnx((arrays, meta), path, mode=mode, random_state=random_state,
                                 standard_ops=standard_ops, gibbs_steps=gibbs_steps, **kw)

    @classmethod
    def load(cls, path) -> "BinaryRBM":
        """Read a posterior file of kind "rbm" written by :meth:`save`."""
        from lowprec_rbm.posterior_file import load_posterior

        arrays, meta = load_posterior(path, kind="rbm")
        if "lam" not in arrays or arrays["lam"].ndim != 2:
            raise ValueError(f"{path}: an rbm posterior needs a 2-d array 'lam'")
        config = dict(meta.get("config", {}))
        if "seed" in config and "random_state" not in config:   # files written before issue 15
            config["random_state"] = config.pop("seed")
        params = {k: v for k, v in config.items() if k in cls._get_param_names()}
        model = cls(**params)
        model.posterior_ = BernoulliPosterior(np.asarray(arrays["lam"], dtype=np.float64))
        model.n_visible_ = model.n_features_in_ = int(arrays["lam"].shape[0])
        rs = params.get("random_state")
        model.seed_ = int(rs) if isinstance(rs, int) and not isinstance(rs, bool) else 0
        model.n_hidden = int(arrays["lam"].shape[1])
        # Files written before fields existed have neither array nor the flags in their config: a fieldless
        # model (its config then lacks visible_fields/hidden_fields, so record what it is).
        for key, size in (("visible_field", model.n_visible_), ("hidden_field", model.n_hidden)):
            value = arrays.get(key)
            if value is not None and (value.ndim != 1 or value.shape[0] != size):
                raise ValueError(f"{path}: array {key!r} must have shape ({size},), got {value.shape}")
            setattr(model, key + "_", None if value is None else np.asarray(value, dtype=np.float64))
        model.visible_fields = model.visible_field_ is not None
        model.hidden_fields = model.hidden_field_ is not None
        model.history_ = list(meta.get("history", []))
        model.data_info_ = dict(meta.get("data", {}))
        if "learning_rate_used" in meta.get("config", {}):
            model.learning_rate_ = float(meta["config"]["learning_rate_used"])
        return model
