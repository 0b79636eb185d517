"""``BinaryRBM``: a restricted Boltzmann machine with ±1 synapses trained as a Bernoulli posterior.

Model (no biases): p(σ, h | W) ∝ exp((β/√N) Σ_ia σ_i W_ia h_a), σ ∈ {±1}^N, h ∈ {±1}^P, W ∈ {±1}^{N×P}.
Posterior q(W) = Π exp(λ W)/(2cosh λ) (:class:`~lowprec_rbm.posterior.BernoulliPosterior`, λ of shape (N, P)).
Objective (ELBO): L = Σ_s Σ_a E_q ln 2cosh(β X_a(σ^s)) - M E_q ln Z(W) - KL(q || p0), with the data term by
the CLT (:mod:`.clt`) and E_q ln Z by BP on the dual network (:mod:`.bp`). Each step estimates
g = ∇_m E_q[ln p(D|W)] on a minibatch (data term scaled by M/B) and hands it to a learning rule
(:mod:`lowprec_rbm.rules`: "blr" or "huang").
"""
from __future__ import annotations

import math
import time
import warnings
from numbers import Integral, Real
from typing import Any, Callable

import numpy as np

from lowprec_rbm import checkpoint as ckpt
from lowprec_rbm.posterior import BernoulliPosterior
from lowprec_rbm.rbm.bp import annealed_partition_term, partition_term
from lowprec_rbm.rbm.clt import data_term
from lowprec_rbm.rbm.planted import overlap
from lowprec_rbm.rules import apply_updates, blr, huang, schedules

__all__ = ["BinaryRBM", "check_patterns", "auto_blr_rate", "RULES", "PARTITIONS", "DEFAULT_LEARNING_RATE"]

RULES = ("blr", "huang")
PARTITIONS = ("quenched", "annealed")
# Huang's Adam step on m when none is given (smooth rise of the bound on Fashion-MNIST images; the full-batch
# planted bench uses 0.1). The BLR's default is derived from the data: see auto_blr_rate.
DEFAULT_LEARNING_RATE = {"huang": 0.01}


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


def _num(value: Any, name: str, *, low: float | None = None, high: float | None = None, integer: bool = False,
         low_open: bool = False, high_open: bool = False, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    kind = Integral if integer else Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{name} must be {'an integer' if integer else 'a number'}, got {value!r}")
    if not integer and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and (value >= high if high_open else value > high):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value}")
    return value


class BinaryRBM:
    """Binary-synapse RBM trained as a mean-field Bernoulli posterior (BLR or Huang's clipped ascent).

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
        Learning-rate schedule over all training steps.
    epochs : int
        Passes over the data (full batch: one step per epoch).
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
    seed : int
        Seed of every random draw (initialisation, minibatch order, z-samples).

    Attributes
    ----------
    learning_rate_ : float
        The rate used.
    posterior_ : BernoulliPosterior
        Fitted q(W), natural parameters of shape (N, P).
    history_ : list of dict
        One record per epoch (lower bound, KL, overlap with a teacher, BP convergence, seconds).
    n_visible_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from lowprec_rbm import BinaryRBM
    >>> X = np.where(np.random.default_rng(0).random((40, 12)) < 0.5, -1, 1)     # 40 patterns of 12 ±1 units
    >>> rbm = BinaryRBM(n_hidden=3, epochs=2).fit(X)
    >>> rbm.posterior_.lam.shape                                             # (n_visible, n_hidden)
    (12, 3)
    """

    def __init__(self, n_hidden: int = 64, *, beta: float = 1.0, rule: str = "blr",
                 learning_rate: float | None = None, schedule: str = "constant", epochs: int = 10,
                 batch_size: int | None = None, n_z: int = 8, bp_damping: float = 0.2, bp_tol: float = 1e-6,
                 bp_max_iter: int = 200, bp_dtype: str = "float32", warm_start: bool = True,
                 partition: str = "quenched", n_quad: int = 32, prior: float = 0.0,
                 init_scale: float = 0.5, momentum: float = 0.0, clip_eps: float = 1e-5, adam: bool = True,
                 seed: int = 0):
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
        self.seed = seed

    # -- parameters ---------------------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters as a JSON-able dict (the constructor's keyword arguments)."""
        names = ("n_hidden", "beta", "rule", "learning_rate", "schedule", "epochs", "batch_size", "n_z",
                 "bp_damping", "bp_tol", "bp_max_iter", "bp_dtype", "warm_start", "partition", "n_quad", "prior",
                 "init_scale",
                 "momentum", "clip_eps", "adam", "seed")
        return {k: getattr(self, k) for k in names}

    def _validate(self) -> None:
        _num(self.n_hidden, "n_hidden", low=1, integer=True)
        _num(self.beta, "beta", low=0, low_open=True)
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")
        _num(self.learning_rate, "learning_rate", low=0, low_open=True, allow_none=True)
        if self.partition not in PARTITIONS:
            raise ValueError(f"partition must be one of {PARTITIONS}, got {self.partition!r}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        _num(self.epochs, "epochs", low=1, integer=True)
        _num(self.batch_size, "batch_size", low=1, integer=True, allow_none=True)
        _num(self.n_z, "n_z", low=1, integer=True)
        _num(self.bp_damping, "bp_damping", low=0, high=1, high_open=True)
        _num(self.bp_tol, "bp_tol", low=0, low_open=True)
        _num(self.bp_max_iter, "bp_max_iter", low=1, integer=True)
        if self.bp_dtype not in ("float32", "float64"):
            raise ValueError(f"bp_dtype must be 'float32' or 'float64', got {self.bp_dtype!r}")
        _num(self.n_quad, "n_quad", low=1, integer=True)
        _num(self.prior, "prior")
        _num(self.init_scale, "init_scale", low=0, high=1, low_open=True, high_open=True)
        _num(self.momentum, "momentum", low=0, high=1, high_open=True)
        _num(self.clip_eps, "clip_eps", low=0, high=1, low_open=True, high_open=True)
        _num(self.seed, "seed", low=0, integer=True)
        for flag in ("warm_start", "adam"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"{flag} must be True or False, got {getattr(self, flag)!r}")

    def _make_rule(self, total_steps: int):
        lr = self.learning_rate_
        rate = schedules.cosine_decay(lr, total_steps) if self.schedule == "cosine" else lr
        if self.rule == "blr":
            return blr(rate, lam0=self.prior, momentum=self.momentum)
        return huang(rate, eps=self.clip_eps, adam=self.adam, momentum=self.momentum, lam0=self.prior)

    def _streams(self) -> tuple[np.random.Generator, np.random.Generator]:
        train, evaluation = np.random.SeedSequence(self.seed).spawn(2)
        return np.random.default_rng(train), np.random.default_rng(evaluation)

    def _bp_kwargs(self) -> dict[str, Any]:
        return {"damping": self.bp_damping, "tol": self.bp_tol, "max_iter": self.bp_max_iter,
                "dtype": np.dtype(self.bp_dtype).type}

    # -- training -----------------------------------------------------------------------------------------
    def fit(self, X: np.ndarray, *, teacher: np.ndarray | None = None, data_info: dict | None = None,
            on_epoch: Callable[[dict], None] | None = None,
            progress: Callable[..., Any] | None = None, checkpoint=None, resume: bool = False,
            stop: Callable[[], bool] | None = None) -> "BinaryRBM":
        """Train on ±1 patterns.

        Parameters
        ----------
        X : ndarray, shape (M, N)
            ±1 patterns (int or float).
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
        self._validate()
        if resume and checkpoint is None:
            raise ValueError("resume=True needs the checkpoint path")
        X = check_patterns(X)
        M, N = X.shape
        P = self.n_hidden
        if teacher is not None:
            teacher = np.asarray(teacher)
            if teacher.shape != (N, P):
                raise ValueError(f"teacher must have shape (N, P) = {(N, P)}, got {teacher.shape}")
        rng = self._streams()[0]
        B = M if self.batch_size is None else min(self.batch_size, M)
        steps_per_epoch = -(-M // B)
        if self.learning_rate is not None:
            self.learning_rate_ = float(self.learning_rate)
        else:
            self.learning_rate_ = (auto_blr_rate(X, self.beta) if self.rule == "blr"
                                   else DEFAULT_LEARNING_RATE["huang"])
        self._rule = self._make_rule(self.epochs * steps_per_epoch)
        self._lam = np.arctanh(rng.uniform(-self.init_scale, self.init_scale, size=(N, P)))
        self._state = self._rule.init(self._lam)
        self._u = None
        self.n_visible_ = N
        self.data_info_ = dict(data_info or {})
        self._init_eval(N)
        self.history_ = []
        identity = ckpt.jsonable({**self.get_params(), "learning_rate_used": self.learning_rate_,
                                  "data_sha256": ckpt.data_digest(X, *([] if teacher is None else [teacher])),
                                  "data": self.data_info_})
        start_epoch, position, order = 1, None, None
        if resume:
            arrays, meta = ckpt.load_checkpoint(checkpoint, "rbm")
            ckpt.check_config(meta["config"], identity, checkpoint)
            self._restore(arrays, meta, rng)
            start_epoch, position = int(meta["epoch"]) + 1, meta.get("position")
            order = arrays.get("order")
            map_before = arrays.get("map_before")
            if int(meta["epoch"]) >= 1:
                self.posterior_ = BernoulliPosterior(self._lam.copy())
        bar = progress if progress is not None else (lambda it, **kw: it)
        for epoch in range(start_epoch, self.epochs + 1):
            if position is not None:
                # Resuming inside an epoch: its order, MAP-at-start and per-step BP records were checkpointed.
                s0, iters, residuals, conv, spent = (position["step"], position["iters"], position["residuals"],
                                                     position["conv"], position["seconds"])
                position = None
            else:
                order = rng.permutation(M) if B < M else np.arange(M)
                map_before = self._lam >= 0
                s0, iters, residuals, conv, spent = 0, [], [], [], 0.0
            t0 = time.perf_counter()
            for step in bar(range(s0, steps_per_epoch), total=steps_per_epoch - s0,
                            desc=f"epoch {epoch}/{self.epochs}"):
                if stop is not None and stop():
                    if checkpoint is None:
                        raise KeyboardInterrupt
                    self._save_checkpoint(checkpoint, identity, rng, epoch - 1,
                                          {"step": step, "iters": iters, "residuals": residuals, "conv": conv,
                                           "seconds": spent + time.perf_counter() - t0},
                                          {"order": order, "map_before": map_before})
                    raise ckpt.TrainingInterrupted(checkpoint, epoch - 1, step, steps_per_epoch, self.epochs)
                bp = self._step(X[order[step * B:(step + 1) * B]], M, rng)
                if not np.all(np.isfinite(self._lam)):
                    raise FloatingPointError(f"natural parameters became non-finite at epoch {epoch}, step "
                                             f"{step}; lower the learning rate (now {self.learning_rate_})")
                iters.append(int(bp.iterations))
                residuals.append(float(bp.residual.max()))
                conv.append(float(bp.converged.mean()))
            lam = self._lam
            self.posterior_ = BernoulliPosterior(lam.copy())
            record = {"epoch": epoch, "steps": epoch * steps_per_epoch,
                      "map_flips": int(np.sum((lam >= 0) != map_before)),
                      "bp_iterations_mean": float(np.mean(iters)), "bp_iterations_max": int(np.max(iters)),
                      "bp_residual_max": float(np.max(residuals)), "bp_converged_fraction": float(np.mean(conv)),
                      "bp_all_converged": bool(np.min(conv) == 1.0)}
            record.update(self._bound_terms(X))
            if teacher is not None:
                q, per, _ = overlap(teacher, self.posterior_.map())
                record["overlap"] = q
                record["overlap_per_unit"] = [float(v) for v in per]
            record["seconds"] = spent + time.perf_counter() - t0
            self.history_.append(record)
            if checkpoint is not None:
                self._save_checkpoint(checkpoint, identity, rng, epoch, None, {})
            if on_epoch is not None:
                on_epoch(record)
        failed = [r["epoch"] for r in self.history_ if not (r["bp_all_converged"] and r["lb_bp_converged"])]
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
                                    ("eval_messages", "_eval_u"))}
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
            ckpt.set_rng_state(rng, meta["rng"]["train"], "rng 'train'")
        except KeyError as exc:
            raise ValueError(f"checkpoint lacks the entry {exc}") from None
        self.history_ = list(meta["history"])

    def _step(self, batch: np.ndarray, n_total: int, rng: np.random.Generator):
        """One update from a minibatch: g = (M/B) ∇(data term) - M ∇<ln Z>, then the rule. Returns the BP run."""
        m = np.tanh(self._lam)
        _, g_data = data_term(batch, m, self.beta, self.n_quad)
        part = self._partition(m, rng, self._u if self.warm_start else None)
        self._u = part.bp.u
        grads = (n_total / batch.shape[0]) * g_data - n_total * part.grad
        updates, self._state = self._rule.update(grads, self._state, self._lam)
        self._lam = apply_updates(self._lam, updates)
        return part.bp

    # -- evaluation ---------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "posterior_"):
            raise ValueError("this BinaryRBM is not fitted yet: call fit(X) or BinaryRBM.load(path)")

    def _partition(self, m: np.ndarray, rng: np.random.Generator | None, u0: np.ndarray | None,
                   grad: bool = True):
        """The log-partition term at means m. ``rng`` None = the fixed evaluation draws (lower bound)."""
        N, P = m.shape
        if self.partition == "quenched":
            z = self._eval_z if rng is None else rng.standard_normal((self.n_z, P))
            return partition_term(m, self.beta, z, u0, grad=grad, **self._bp_kwargs())
        if u0 is None:
            # Random starting messages (θ = 0 keeps u = 0 a fixed point); evaluation starts are fixed per seed.
            u0 = (self._eval_u0 if rng is None else rng.standard_normal((self.n_z, N, P))) * 0.3
        return annealed_partition_term(m, self.beta, u0, grad=grad, **self._bp_kwargs())

    def _init_eval(self, N: int) -> None:
        eval_rng = self._streams()[1]
        self._eval_z = eval_rng.standard_normal((self.n_z, self.n_hidden))
        self._eval_u0 = eval_rng.standard_normal((self.n_z, N, self.n_hidden))
        self._eval_u = None

    def _bound_terms(self, X: np.ndarray) -> dict[str, Any]:
        m = self.posterior_.mean
        M = X.shape[0]
        data, _ = data_term(X, m, self.beta, self.n_quad, grad=False)
        part = self._partition(m, None, self._eval_u, grad=False)
        self._eval_u = part.bp.u
        kl = self.posterior_.kl(self.prior)
        lb = data - M * part.value - kl
        return {"lower_bound": float(lb), "lower_bound_per_sample": float(lb / M), "data_term": float(data),
                "log_partition": float(part.value), "kl": float(kl),
                "lb_bp_iterations": int(part.bp.iterations), "lb_bp_residual": float(part.bp.residual.max()),
                "lb_bp_converged": bool(part.bp.converged.all())}

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

    def receptive_fields(self) -> np.ndarray:
        """MAP weights sign(m) as int8 (P, N): one row per hidden unit (sign(0) = +1)."""
        self._check_fitted()
        return self.posterior_.map().T.copy()

    # -- persistence --------------------------------------------------------------------------------------
    def save(self, path) -> Any:
        """Write the posterior file (kind "rbm"): array ``lam`` (N, P); meta config, data, history."""
        from lowprec_rbm.posterior_file import save_posterior

        self._check_fitted()
        config = self.get_params()
        config["learning_rate_used"] = self.learning_rate_
        config["n_visible"] = self.n_visible_
        config["data_source"] = self.data_info_.get("source")
        config["binarize_threshold"] = self.data_info_.get("binarize_threshold")
        meta = {"kind": "rbm", "config": config, "data": self.data_info_, "history": self.history_,
                "model": "binary-synapse RBM, energy -(beta/sqrt(N)) sum_ia s_i W_ia h_a, no biases",
                "arrays": {"lam": "natural parameters (N, P); m = tanh(lam); MAP weight = +1 where lam >= 0"}}
        return save_posterior(path, {"lam": self.posterior_.lam}, meta)

    @classmethod
    def load(cls, path) -> "BinaryRBM":
        """Read a posterior file of kind "rbm" written by :meth:`save`."""
        from lowprec_rbm.posterior_file import load_posterior

        arrays, meta = load_posterior(path, kind="rbm")
        if "lam" not in arrays or arrays["lam"].ndim != 2:
            raise ValueError(f"{path}: an rbm posterior needs a 2-d array 'lam'")
        params = {k: v for k, v in meta.get("config", {}).items() if k in cls().get_params()}
        model = cls(**params)
        model.posterior_ = BernoulliPosterior(np.asarray(arrays["lam"], dtype=np.float64))
        model.n_visible_ = int(arrays["lam"].shape[0])
        model.n_hidden = int(arrays["lam"].shape[1])
        model.history_ = list(meta.get("history", []))
        model.data_info_ = dict(meta.get("data", {}))
        if "learning_rate_used" in meta.get("config", {}):
            model.learning_rate_ = float(meta["config"]["learning_rate_used"])
        return model
