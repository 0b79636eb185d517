"""Feed-forward classifiers with ±1, ternary or real weights, trained in NumPy (the engine of MLPs and CNNs).

:class:`Classifier` is scikit-learn style: hyper-parameters in ``__init__``, validated in :meth:`fit`, fitted
state in trailing-underscore attributes. The network is a sequence of layer objects built from blocks
(:mod:`lowprec_rbm.nn.stack`); the learning rule is one object (:mod:`lowprec_rbm.nn.learners`) that decides
what the weights are, how a minibatch updates them and what is deployed:

========== ====================================== ===================================== ======================
rule        parameters (``params_``)               forward pass in training               deployable weights
========== ====================================== ===================================== ======================
bayesbinn   natural parameters λ (weight shape)    relaxed sample tanh((λ+δ)/τ)           MAP sign(λ), λ≥0→+1
ste         latent real weights                    sign(latent), straight-through        sign(latent)
adam        real weights                           the weights                           (real; not integer)
ternary-vi  logit planes (3, *shape) over −1,0,+1  probabilistic forward pass (moments)  argmax of the logits
========== ====================================== ===================================== ======================

The classifier knows neither layer kinds nor rules by name. Subclasses (:class:`~lowprec_rbm.nn.mlp.MLPClassifier`,
:class:`~lowprec_rbm.nn.cnn.CNNClassifier`) only say how the architecture is given and what the posterior
file's architecture keys are (:mod:`lowprec_rbm.nn.schema`).

Predictions
-----------
``mode="map"``: the deployable (most probable) network. ``mode="mean"``: the posterior predictive estimated with
``n_samples`` networks drawn from the posterior (±1 or ternary); **the softmax probabilities of the sampled
networks are averaged** (a Monte Carlo estimate of the Bayesian model average ``E_q[p(y|x, W)]``, which is
what the NLL and ECE assess; the published BayesBiNN code averages logits instead). ``mode="pfp"`` (ternary
only): the Gaussian logits of the probabilistic forward pass, softmax averaged over ``n_samples`` logit draws.

Output scale
------------
The logits are ``γ · BN(a_L)``: batch norm without affine parameters fixes every class score to unit variance
over the batch, which caps the softmax confidence near 0.7 and makes every predictor under-confident by
construction (ECE ≈ 0.2 whatever the rule). With ``logit_scale="learned"`` (default) one positive scalar
``γ = exp(s)`` is trained by Adam (step ``0.01 ×`` the schedule's relative rate) alongside the weights, for every
rule alike. A positive scale does not change the argmax, so the deployable integer network is unaffected; it
only makes the probabilities (NLL, ECE) meaningful. ``logit_scale="fixed"`` keeps γ = 1 (the published
architecture).

Batch norm at evaluation
------------------------
A network evaluated here (MAP, each sample, STE, Adam) uses *population statistics of that network* computed on
a calibration subset of the training set (``bn_calib`` images, fixed by the seed): ``bn_eval="recompute"``,
the default. This matters for a posterior that stays uncertain: the running averages collected while training
come from *sampled* networks, whose pre-activation statistics differ from the MAP network's. With
``bn_eval="running"`` the training running averages (momentum ``bn_momentum``) are used instead. The saved
``bn{i}.mean``/``bn{i}.var`` are those of the deployable network; the training running averages are saved as
``bn{i}.running_mean``/``bn{i}.running_var`` (for ternary VI they are the PFP moment statistics).
"""
from __future__ import annotations

import math
import time
import warnings
from typing import Any, Callable, Mapping

import numpy as np

from lowprec_rbm import checkpoint as ckpt
from lowprec_rbm.nn import layers as L
from lowprec_rbm.nn import metrics
from lowprec_rbm.nn import learners
from lowprec_rbm.nn import network as net
from lowprec_rbm.nn.network import Architecture, BNStats
from lowprec_rbm.progress import log, progress
from lowprec_rbm.rules import apply_updates
from lowprec_rbm.rules import schedules
from lowprec_rbm.rules import adam as adam_rule

__all__ = ["Classifier", "RULES", "RULE_DEFAULTS", "PARAM_NAMES"]

RULES = tuple(learners.LEARNERS)

#: Per-rule hyper-parameters and their defaults (``rule_params`` overrides them; unknown keys are an error).
#:
#: ``kl_weight`` (r) multiplies the prior/KL term. r = 1 is the ELBO. For BayesBiNN with the expected-scale
#: estimator the stationary point is λ = λ0 − (N / r)·E[g]: at r = 1 the posterior over 1.9M weights stays so
#: uncertain that the sampled networks cannot fit (Fashion-MNIST, 784-1024-1024-10, 2 epochs: 78–80 % for the
#: MAP network), while r = 1e-3 (a tempered posterior that counts the data 1000 times) keeps it informative
#: (median |λ| ≈ 1.2, 0.30 nats per weight) at the accuracy of STE and of the published update; the published
#: float32 code sits at the deterministic limit (|λ| ~ 1e7). For ternary VI r = 0.01: at r = 1 the prior
#: p(w = 0) = 0.5 wins for nearly every weight (99.5 % zeros, 44 % accuracy after one epoch).
RULE_DEFAULTS: dict[str, dict[str, Any]] = {name: dict(l.defaults) for name, l in learners.LEARNERS.items()}

#: Array name of the weights of layer i in the posterior file, per rule.
PARAM_NAMES = {name: l.param_name for name, l in learners.LEARNERS.items()}



def _softmax(z: np.ndarray) -> np.ndarray:
    return L.softmax(z.astype(np.float64))


class Classifier:
    """Feed-forward classifier with ±1, ternary or real weights (base of the MLP and CNN classifiers).

    Parameters
    ----------
    activation : {"relu", "sign"}
        Hidden activation; ``sign`` (straight-through hard-tanh gradient) gives XNOR-ready networks.
    input : {"real", "binary", "bitplanes"}
        How uint8 pixels enter layer 0 (:mod:`lowprec_rbm.nn.network`).
    threshold : float
        Binarisation threshold (intensity) for ``input="binary"``.
    rule : {"bayesbinn", "ste", "adam", "ternary-vi"}
    lr : float, optional
        Initial learning rate (default: the rule's, :data:`RULE_DEFAULTS`).
    rule_params : dict, optional
        Other hyper-parameters of the rule (see :data:`RULE_DEFAULTS`).
    lr_schedule : {"cosine", "constant"}
        ``cosine``: ``lr_e = lr (1 + cos(π e / epochs)) / 2`` for epoch ``e = 0..epochs−1``, constant within an
        epoch (the published code steps ``CosineAnnealingLR`` before each epoch, i.e. uses ``e + 1``, which makes
        its last epoch a no-op; here the last epoch still learns).
    epochs, batch_size : int
        Each epoch shuffles the training set and takes ``n // batch_size`` full batches.
    bn_eps, bn_momentum : float
    dropout, input_dropout : float
    bn_eval : {"recompute", "running"}
    bn_calib : int
        Size of the calibration subset for ``bn_eval="recompute"`` (and for the train accuracy in the history).
    test_samples : int
        Networks sampled for ``mode="mean"`` predictions reported in the history.
    eval_mean_every : int
        Evaluate the posterior-mean predictor on the validation set every this many epochs (0: last epoch only).
    logit_scale : {"learned", "fixed"}
        See "Output scale" in the module docstring.
    warm_start : bool
        When already fitted, :meth:`fit` continues from the current parameters (new task, continual learning).
    prior : {"uniform", "previous"}
        BayesBiNN prior λ0: uniform (0), or, with ``warm_start``, the posterior at the start of this fit (the
        previous task's posterior).
    seed : int
    quiet : bool
        No progress bar and no per-epoch lines on stderr.

    Attributes
    ----------
    arch_ : Architecture
    params_ : list of ndarray, one per layer (λ, latent weights, weights or logits)
    running_ : list of BNStats (training running averages)
    deploy_stats_ : list of BNStats of the deployable network
    history_ : list of dict, one per epoch
    n_train_ : int
    classes_ : ndarray of int64
        The labels of the output units, in order: the labels present in the training set, sorted.
    """

    KIND = ""                      # posterior kind ("mlp", "cnn")
    _ARCH_PARAMS: tuple = ()       # the subclass's architecture hyper-parameters (names in __init__)

    def __init__(self, activation: str = "relu", input: str = "real",
                 threshold: float = 0.5, rule: str = "bayesbinn", lr: float | None = None,
                 rule_params: Mapping[str, Any] | None = None, lr_schedule: str = "cosine", epochs: int = 10,
                 batch_size: int = 100, bn_eps: float = 1e-4, bn_momentum: float = 0.15, dropout: float = 0.0,
                 input_dropout: float = 0.0, bn_eval: str = "recompute", bn_calib: int = 10000,
                 test_samples: int = 10, eval_mean_every: int = 0, logit_scale: str = "learned",
                 warm_start: bool = False, prior: str = "uniform", seed: int = 0, quiet: bool = True):
        self.activation = activation
        self.input = input
        self.threshold = threshold
        self.rule = rule
        self.lr = lr
        self.rule_params = rule_params
        self.lr_schedule = lr_schedule
        self.epochs = epochs
        self.batch_size = batch_size
        self.bn_eps = bn_eps
        self.bn_momentum = bn_momentum
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.bn_eval = bn_eval
        self.bn_calib = bn_calib
        self.test_samples = test_samples
        self.eval_mean_every = eval_mean_every
        self.logit_scale = logit_scale
        self.warm_start = warm_start
        self.prior = prior
        self.seed = seed
        self.quiet = quiet

    # ------------------------------------------------------------------------------------------ validation
    def _architecture(self, in_shape: tuple, n_classes: int, common: dict) -> Architecture:
        """The subclass's Architecture for per-example inputs of ``in_shape`` and ``n_classes`` outputs."""
        raise NotImplementedError

    def _validate(self, in_shape: tuple, n_classes: int) -> None:
        learner = learners.get(self.rule)
        for name in ("epochs", "batch_size", "bn_calib", "test_samples", "eval_mean_every", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{name} must be an int, got {type(v).__name__}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (batch norm needs a batch), got {self.batch_size}")
        if self.bn_calib < 2:
            raise ValueError(f"bn_calib must be >= 2, got {self.bn_calib}")
        if self.test_samples < 1:
            raise ValueError(f"test_samples must be >= 1, got {self.test_samples}")
        if self.eval_mean_every < 0:
            raise ValueError(f"eval_mean_every must be >= 0, got {self.eval_mean_every}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        if self.prior not in ("uniform", "previous"):
            raise ValueError(f"prior must be 'uniform' or 'previous', got {self.prior!r}")
        if self.prior == "previous" and not (self.warm_start and learner.supports_prior):
            ok = [n for n, l in learners.LEARNERS.items() if l.supports_prior]
            raise ValueError(f"prior='previous' needs rule={' or '.join(map(repr, ok))} and warm_start=True "
                             "(a previous posterior)")
        if self.logit_scale not in ("learned", "fixed"):
            raise ValueError(f"logit_scale must be 'learned' or 'fixed', got {self.logit_scale!r}")
        if self.bn_eval not in ("recompute", "running"):
            raise ValueError(f"bn_eval must be 'recompute' or 'running', got {self.bn_eval!r}")
        hp = dict(RULE_DEFAULTS[self.rule])
        extra = dict(self.rule_params or {})
        unknown = sorted(set(extra) - set(hp))
        if unknown:
            raise TypeError(f"unknown hyper-parameter(s) {unknown} for rule {self.rule!r}; "
                            f"known: {sorted(hp)}")
        hp.update(extra)
        if self.lr is not None:
            hp["lr"] = self.lr
        lr = hp["lr"]
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning rate must be a finite number > 0, got {lr!r}")
        hp["lr"] = float(lr)
        learner.check(hp, self.activation)
        common = dict(activation=self.activation, input=self.input, threshold=float(self.threshold),
                      bn_eps=float(self.bn_eps), bn_momentum=float(self.bn_momentum), dropout=float(self.dropout),
                      input_dropout=float(self.input_dropout))
        self.arch_ = self._architecture(tuple(int(d) for d in in_shape), int(n_classes), common)
        self.learner_ = learner
        self.hparams_ = hp

    # ------------------------------------------------------------------------------------------ data checks
    def _shape_images(self, X: np.ndarray, what: str) -> np.ndarray:
        """Images as the subclass reads them: (M, D) for an MLP, (M, H, W, C) for a CNN."""
        if X.ndim < 2 or X.shape[0] < 1:
            raise ValueError(f"{what}: images must have shape (M, H, W) or (M, D) with M >= 1, got {X.shape}")
        return X.reshape(X.shape[0], -1)

    def _check_input_shape(self, X: np.ndarray, what: str) -> None:
        """ValueError unless images ``X`` (as :meth:`_shape_images` returns them) fit the fitted network."""
        if X.shape[1:] != tuple(self.arch_.in_shape):
            raise ValueError(f"{what}: images have shape {X.shape[1:]}; the network expects {self.arch_.in_shape}")

    def _check_xy(self, X, y, what: str, n_classes: int | None = None):
        X = np.asarray(X)
        if X.dtype != np.uint8:
            raise TypeError(f"{what}: images must be uint8 pixels (0..255), got dtype {X.dtype}")
        X = self._shape_images(X, what)
        if y is None:
            return X, None
        y = np.asarray(y)
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise TypeError(f"{what}: labels must be a 1-d integer array, got {y.dtype} {y.shape}")
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"{what}: {X.shape[0]} images but {y.shape[0]} labels")
        y = y.astype(np.int64)
        bad = np.flatnonzero((y < 0) | (y >= n_classes if n_classes is not None else False))
        if bad.size:
            declared = "labels >= 0" if n_classes is None else f"the declared classes 0..{n_classes - 1}"
            raise ValueError(f"{what}: label {y[bad[0]]} at index {bad[0]} is not among {declared} "
                             f"({bad.size} such label{'s' if bad.size > 1 else ''})")
        return X, y

    def _label_index(self, y: np.ndarray) -> np.ndarray:
        """Labels -> output-unit indices (positions in ``classes_``); -1 for a label the network does not have."""
        pos = np.clip(np.searchsorted(self.classes_, y), 0, len(self.classes_) - 1)
        return np.where(self.classes_[pos] == y, pos, -1)

    @staticmethod
    def _summary(probs: np.ndarray, yi: np.ndarray) -> dict:
        """acc / nll / ece of class probabilities against indices ``yi``, where -1 marks an image whose label is
        not among the network's classes: it counts as wrong in ``acc`` (it cannot be predicted) and is left out
        of ``nll``/``ece`` (it has no probability); ``unknown_class`` counts those images."""
        known = yi >= 0
        if known.all():
            return metrics.summarize(probs, yi)
        out = metrics.summarize(probs[known], yi[known]) if known.any() else {}
        out["acc"] = float(np.sum(np.argmax(probs[known], axis=1) == yi[known]) / len(yi))
        out["unknown_class"] = int(np.sum(~known))
        return out

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        return net.prepare_inputs(X, self.arch_.input, self.arch_.threshold)   # (M, D); the network reshapes

    # --------------------------------------------------------------------------------------------- fitting
    def fit(self, X, y, X_val=None, y_val=None, eval_sets: Mapping[str, tuple] | None = None,
            n_classes: int | None = None, *, checkpoint=None, resume: bool = False,
            run_config: Mapping[str, Any] | None = None, stop: Callable[[], bool] | None = None
            ) -> "Classifier":
        """Train on uint8 images ``X`` (M, H, W) or (M, D) and integer labels ``y`` (M,).

        The network's classes are the labels present in ``y``, in increasing order (``classes_``): output unit
        ``j`` is label ``classes_[j]``. A label absent from ``y`` has no output unit and is never predicted.

        Parameters
        ----------
        X_val, y_val : optional validation set (per-epoch accuracy, NLL, ECE of the deployable network)
        eval_sets : dict name -> (X, y), optional
            Extra sets evaluated every epoch (e.g. ``{"test": (x_test, y_test)}``), recorded as ``{name}_acc``.
            Images of evaluation sets whose label is not among ``classes_`` count as wrong in the accuracy and
            are left out of NLL and ECE; their number is recorded as ``{name}_unknown_class`` and warned about.
        n_classes : int, optional
            The number of classes the data declares (labels ``0..n_classes-1``): any label outside, in any set,
            is an error naming the set and the index (a corrupt label byte). It does not add output units.
        checkpoint : path-like, optional
            Checkpoint file (:mod:`lowprec_rbm.checkpoint`), written atomically after every epoch and when
            ``stop()`` turns true. The caller deletes it once the trained model is saved.
        resume : bool
            Continue from ``checkpoint``; the run's configuration (hyper-parameters, data digest,
            ``run_config``) must equal the checkpoint's. The result is bit-identical to an uninterrupted fit.
        run_config : dict, optional
            JSON-able settings of the caller identifying the run (data source, split), compared on resume.
        stop : callable, optional
            Polled before every minibatch; when it returns True the state is checkpointed and
            :class:`~lowprec_rbm.checkpoint.TrainingInterrupted` is raised.
        """
        X, y = self._check_xy(X, y, "training set", n_classes)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(f"training set: need at least 2 classes, the labels are all {classes.tolist()}")
        warm = bool(self.warm_start) and hasattr(self, "params_") and hasattr(self, "arch_")
        if warm and (checkpoint is not None or resume):
            raise ValueError("checkpoints are not supported with warm_start (a continued fit)")
        if resume and checkpoint is None:
            raise ValueError("resume=True needs the checkpoint path")
        if warm and not np.array_equal(classes, getattr(self, "classes_", classes)):
            raise ValueError(f"warm_start: the fitted network has classes {self.classes_.tolist()}; this fit's "
                             f"labels are {classes.tolist()}")
        old_arch = self.arch_ if warm else None
        self._validate(X.shape[1:], len(classes))
        if warm and (old_arch.blocks != self.arch_.blocks or old_arch.in_shape != self.arch_.in_shape
                     or old_arch.activation != self.arch_.activation):
            raise ValueError(f"warm_start: the fitted network is {self._arch_text(old_arch)} ({old_arch.activation}); "
                             f"this fit asks for {self._arch_text(self.arch_)} ({self.arch_.activation})")
        if X.shape[0] < self.batch_size:
            raise ValueError(f"training set has {X.shape[0]} images, fewer than batch_size={self.batch_size}")
        self.classes_ = classes
        y_lab = y
        y = self._label_index(y_lab)
        sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if X_val is not None:
            sets["val"] = self._check_xy(X_val, y_val, "validation set", n_classes)
        for name, (xs, ys) in dict(eval_sets or {}).items():
            if name in ("val", "train"):
                raise ValueError(f"eval_sets name {name!r} is reserved")
            sets[name] = self._check_xy(xs, ys, f"eval set {name!r}", n_classes)
        identity = self._run_identity(X, y_lab, sets, run_config)
        for name, (xs, ys) in sets.items():
            yi = self._label_index(ys)
            if np.any(yi < 0):
                missing = sorted(set(ys[yi < 0].tolist()))
                what = "validation set" if name == "val" else f"eval set {name!r}"
                warnings.warn(f"{what}: {int(np.sum(yi < 0))} of {len(ys)} images have labels {missing} "
                              f"that the training set lacks; the network cannot predict them, so they count as "
                              f"wrong (and are left out of NLL/ECE)", RuntimeWarning, stacklevel=2)
            sets[name] = (xs, yi)
        arch, hp = self.arch_, self.hparams_
        self.fit_count_ = getattr(self, "fit_count_", 0) + 1 if warm else 1
        ss = np.random.SeedSequence([int(self.seed), self.fit_count_ - 1])
        init_rng, train_rng, eval_rng = (np.random.default_rng(s) for s in ss.spawn(3))
        self.n_classes_ = len(classes)
        self.n_train_ = int(X.shape[0])
        xin = self._inputs(X)
        calib_idx = np.sort(init_rng.permutation(X.shape[0])[:min(self.bn_calib, X.shape[0])])
        self.calib_x_ = xin[calib_idx]
        calib_y = y[calib_idx]
        set_inputs = {name: (self._inputs(xs), ys) for name, (xs, ys) in sets.items()}

        shapes = arch.weight_shapes
        learner = self.learner_
        if warm:
            self.lam0_ = [p.copy() for p in self.params_] if self.prior == "previous" else None
        else:
            self.params_ = learner.init_params(shapes, init_rng, hp)
            self.lam0_ = None
            self.running_ = [BNStats(np.zeros(sh[0]), np.ones(sh[0])) for sh in shapes]

        steps = self.n_train_ // self.batch_size
        if self.lr_schedule == "cosine":
            sched = schedules.per_epoch(schedules.cosine_decay(hp["lr"], self.epochs), steps)
        else:
            sched = schedules.constant(hp["lr"])
        rule = learner.transform(sched, hp, self.n_train_, self.lam0_)
        state = rule.init(self.params_)
        # Output scale γ = exp(s), s trained by Adam at 0.01 × the relative schedule (see module docstring).
        if not warm:
            self.log_scale_ = np.zeros(1, dtype=np.float32)
        scale_rule = adam_rule.adam(lambda step: 0.01 * sched(step) / hp["lr"])
        scale_state = scale_rule.init([self.log_scale_])
        est_state = learner.estimator_init(self.params_, hp)

        rngs = {"train": train_rng, "eval": eval_rng}
        self.history_ = []
        prev_deploy = None
        start_epoch, position, perm = 0, None, None
        if resume:
            arrays, meta = ckpt.load_checkpoint(checkpoint, "mlp")
            ckpt.check_config(meta["config"], identity, checkpoint)
            state, scale_state, est_state, prev_deploy = self._restore(arrays, meta, rngs, state, scale_state,
                                                                       est_state)
            start_epoch, position = int(meta["epoch"]), meta.get("position")
            perm = arrays.get("perm")

        def save(epoch_done: int, pos: dict | None, order) -> None:
            self._save_checkpoint(checkpoint, identity, epoch_done, pos, order, rngs, state, scale_state,
                                  est_state, prev_deploy)

        for epoch in range(start_epoch, self.epochs):
            if position is not None:
                # Resuming inside an epoch: its minibatch order and the partial sums were checkpointed.
                s0, loss_sum, correct, seen, spent = (position["step"], position["loss_sum"],
                                                      position["correct"], position["seen"], position["seconds"])
                position = None
            else:
                perm = train_rng.permutation(self.n_train_)
                s0, loss_sum, correct, seen, spent = 0, 0.0, 0, 0, 0.0
            t0 = time.perf_counter()
            it = progress(range(s0, steps), total=steps - s0, desc=f"epoch {epoch + 1}/{self.epochs}",
                          quiet=self.quiet, unit="batch")
            for s in it:
                if stop is not None and stop():
                    if checkpoint is None:
                        raise KeyboardInterrupt
                    save(epoch, {"step": s, "loss_sum": float(loss_sum), "correct": correct, "seen": seen,
                                 "seconds": spent + time.perf_counter() - t0}, perm)
                    raise ckpt.TrainingInterrupted(checkpoint, epoch, s, steps, self.epochs)
                idx = perm[s * self.batch_size:(s + 1) * self.batch_size]
                xb, yb = xin[idx], y[idx]
                loss, probs, asc, g_s, est_state = self._step_grads(xb, yb, train_rng, est_state)
                updates, state = rule.update(asc, state, self.params_)
                self.params_ = apply_updates(self.params_, updates)
                if self.logit_scale == "learned":
                    upd, scale_state = scale_rule.update([np.full(1, -g_s, dtype=np.float32)], scale_state,
                                                         [self.log_scale_])
                    self.log_scale_ = apply_updates([self.log_scale_], upd)[0]
                loss_sum += loss * len(idx)
                correct += int(np.sum(np.argmax(probs, axis=1) == yb))
                seen += len(idx)
            train_seconds = spent + time.perf_counter() - t0
            t1 = time.perf_counter()
            rec: dict[str, Any] = {"epoch": epoch + 1, "lr": float(sched(epoch * steps)),
                                   "loss": float(loss_sum / seen), "train_acc_running": correct / seen}
            deploy = self.deployable_weights()
            stats = self._stats_for(deploy)
            p_train = self._probs(net.forward_eval(deploy, self.calib_x_, arch, stats))
            rec["train_acc"] = metrics.accuracy(p_train, calib_y)
            for name, (xs, ys) in set_inputs.items():
                summ = self._summary(self._probs(net.forward_eval(deploy, xs, arch, stats)), ys)
                rec.update({f"{name}_{key}": v for key, v in summ.items()})
            last = epoch == self.epochs - 1
            if "val" in set_inputs and learner.bayesian and (
                    last or (self.eval_mean_every and (epoch + 1) % self.eval_mean_every == 0)):
                xs, ys = set_inputs["val"]
                p_mean = self._predict_mean_inputs(xs, self.test_samples, eval_rng)
                rec.update({f"val_mean_{key}": v for key, v in self._summary(p_mean, ys).items()})
            rec["logit_scale"] = self.gamma
            rec.update(self._posterior_summary(deploy, prev_deploy))
            prev_deploy = deploy
            rec["seconds"] = train_seconds
            rec["eval_seconds"] = time.perf_counter() - t1
            self.history_.append(rec)
            self._log_epoch(rec)
            if checkpoint is not None:
                save(epoch + 1, None, None)
        deploy = self.deployable_weights()
        self.deploy_stats_ = self._stats_for(deploy)
        return self

    # ------------------------------------------------------------------------------------------ checkpoints
    def _run_identity(self, X, y, sets, run_config) -> dict:
        """What a resumed run must share with the checkpoint: hyper-parameters, the data, the caller's settings."""
        names = ("activation", "input", "threshold", "rule", "lr_schedule", "epochs", "batch_size", "bn_eps",
                 "bn_momentum", "dropout", "input_dropout", "bn_eval", "bn_calib", "test_samples",
                 "eval_mean_every", "logit_scale", "prior", "seed")
        out = {k: getattr(self, k) for k in names}
        out.update(self._arch_identity())
        out["rule_params"] = dict(self.hparams_)
        out["classes"] = self.classes_.tolist()
        out["data_sha256"] = ckpt.data_digest(X, y, *(a for pair in sets.values() for a in pair))
        out["run"] = dict(run_config or {})
        return ckpt.jsonable(out)

    def _save_checkpoint(self, path, identity, epoch_done, position, perm, rngs, state, scale_state, est_state,
                         prev_deploy) -> None:
        arrays: dict[str, np.ndarray] = {}
        trees = {"params": ckpt.pack_tree(self.params_, "params", arrays),
                 "running": ckpt.pack_tree(self.running_, "running", arrays),
                 "log_scale": ckpt.pack_tree(self.log_scale_, "log_scale", arrays),
                 "rule_state": ckpt.pack_tree(state, "rule_state", arrays),
                 "scale_state": ckpt.pack_tree(scale_state, "scale_state", arrays),
                 "est_state": ckpt.pack_tree(est_state, "est_state", arrays),
                 "prev_deploy": ckpt.pack_tree(prev_deploy, "prev_deploy", arrays)}
        if position is not None:
            arrays["perm"] = np.asarray(perm)
        meta = {"config": identity, "epoch": int(epoch_done), "position": position, "history": self.history_,
                "rng": {name: ckpt.rng_state(r) for name, r in rngs.items()}, "trees": trees}
        ckpt.save_checkpoint(path, "mlp", arrays, meta)

    def _restore(self, arrays, meta, rngs, state, scale_state, est_state):
        trees = meta.get("trees", {})
        try:
            self.params_ = ckpt.unpack_tree(trees["params"], arrays, self.params_, "params")
            self.running_ = ckpt.unpack_tree(trees["running"], arrays, self.running_, "running")
            self.log_scale_ = ckpt.unpack_tree(trees["log_scale"], arrays, self.log_scale_, "log_scale")
            state = ckpt.unpack_tree(trees["rule_state"], arrays, state, "rule_state")
            scale_state = ckpt.unpack_tree(trees["scale_state"], arrays, scale_state, "scale_state")
            est_state = ckpt.unpack_tree(trees["est_state"], arrays, est_state, "est_state")
            prev_deploy = ckpt.unpack_tree(trees["prev_deploy"], arrays, ckpt.ANY, "prev_deploy")
            for name, rng in rngs.items():
                ckpt.set_rng_state(rng, meta["rng"][name], f"rng {name!r}")
        except KeyError as exc:
            raise ValueError(f"checkpoint lacks the entry {exc}") from None
        self.history_ = list(meta["history"])
        return state, scale_state, est_state, prev_deploy

    def _step_grads(self, xb, yb, rng, est_state):
        """One minibatch: loss, probabilities and the ascent-convention gradient tree for the rule."""
        return self.learner_.grads(self.arch_.network(), self.params_, xb, yb, rng, est_state, self.running_,
                                   self._scaled_ce, self.hparams_, self.n_train_)

    @property
    def gamma(self) -> float:
        """The output scale γ (1 when ``logit_scale="fixed"`` or before fitting)."""
        return float(np.exp(self.log_scale_[0])) if hasattr(self, "log_scale_") else 1.0

    def _scaled_ce(self, z, yb):
        """Cross-entropy of logits γ z: loss, dloss/dz, probabilities, dloss/ds (γ = e^s)."""
        gam = np.float32(self.gamma)
        loss, g, probs = L.softmax_cross_entropy(gam * z, yb)
        g_s = float(gam * np.sum(g * z))   # d/ds loss(e^s z) = Σ (dloss/dlogit) · γ z
        return loss, gam * g, probs, g_s

    def _probs(self, z: np.ndarray) -> np.ndarray:
        """Softmax of the scaled logits γ z (float64)."""
        return _softmax(self.gamma * z.astype(np.float64))

    def _stats_for(self, weights) -> list[BNStats]:
        if self.bn_eval == "running" and self.learner_.running_stats_ok:
            return list(self.running_)
        return net.population_stats(weights, self.calib_x_, self.arch_)

    # ------------------------------------------------------------------------------------ posterior views
    def deployable_weights(self) -> list[np.ndarray]:
        """Weights of the deployable network as float32 (±1, {−1, 0, +1}, or real for ``adam``)."""
        self._check_fitted_params()
        return self.learner_.deployable(self.params_)

    def sample_weights(self, rng: np.random.Generator) -> list[np.ndarray]:
        """One network drawn from the posterior (float32 ±1 or ternary); deterministic rules return the MAP."""
        return self.learner_.sample(self.params_, rng)

    def _posterior_summary(self, deploy, prev) -> dict:
        out: dict[str, Any] = {}
        if prev is not None:
            out["flips"] = int(sum(int(np.sum(a != b)) for a, b in zip(deploy, prev)))
        out.update(self.learner_.summary(self.params_, deploy, self.hparams_))
        return out

    def _log_epoch(self, rec: dict) -> None:
        parts = [f"epoch {rec['epoch']:3d}/{self.epochs}", f"loss {rec['loss']:.4f}",
                 f"train {100 * rec['train_acc']:.2f}%"]
        if "val_acc" in rec:
            parts.append(f"val {100 * rec['val_acc']:.2f}% (nll {rec['val_nll']:.3f}, ece {rec['val_ece']:.3f})")
        if "val_mean_acc" in rec:
            parts.append(f"mean-of-{self.test_samples} {100 * rec['val_mean_acc']:.2f}% "
                         f"(nll {rec['val_mean_nll']:.3f}, ece {rec['val_mean_ece']:.3f})")
        if "abs_lam_quantiles" in rec:
            parts.append(f"|λ| median {rec['abs_lam_quantiles']['q50']:.3g}, H {rec['entropy_nats']:.3f}")
        if "sparsity" in rec:
            parts.append(f"zeros {100 * rec['sparsity']:.1f}%")
        parts.append(f"{rec['seconds']:.1f}s")
        log(" | ".join(parts), quiet=self.quiet)

    # ------------------------------------------------------------------------------------------- predicting
    def _check_fitted_params(self) -> None:
        if not hasattr(self, "params_"):
            raise ValueError("this MLPClassifier is not fitted yet: call fit() or load()")

    def _check_fitted(self) -> None:
        self._check_fitted_params()
        if not hasattr(self, "deploy_stats_"):
            raise ValueError("this MLPClassifier is not fitted yet: call fit() or load()")

    def _predict_mean_inputs(self, xs: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        acc = np.zeros((xs.shape[0], self.arch_.sizes[-1]))
        for _ in range(n_samples):
            ws = self.sample_weights(rng)
            stats = self._sample_stats(ws)
            acc += self._probs(net.forward_eval(ws, xs, self.arch_, stats))
        return acc / n_samples

    def _sample_stats(self, ws) -> list[BNStats]:
        if self.bn_eval == "running" and self.learner_.running_stats_ok:
            return list(self.running_)
        if not hasattr(self, "calib_x_"):
            raise ValueError("posterior-mean predictions with bn_eval='recompute' need the calibration images "
                             "(available after fit(); after load() pass calibration images to set_calibration())")
        return net.population_stats(ws, self.calib_x_, self.arch_)

    def set_calibration(self, X) -> "Classifier":
        """Set the images (uint8) from which BN statistics are recomputed (``bn_eval="recompute"``): those of
        sampled networks, and the deployable network's (``deploy_stats_``), which are recomputed now."""
        self._check_fitted_params()
        X, _ = self._check_xy(X, None, "calibration set")
        self._check_input_shape(X, "calibration set")
        if X.shape[0] < 2:
            raise ValueError(f"need at least 2 calibration images, got {X.shape[0]}")
        self.calib_x_ = self._inputs(X)
        self.deploy_stats_ = self._stats_for(self.deployable_weights())
        return self

    def predict_proba(self, X, mode: str = "map", n_samples: int | None = None, seed: int | None = None
                      ) -> np.ndarray:
        """Class probabilities (M, n_classes); column ``j`` is label ``classes_[j]``.

        Parameters
        ----------
        mode : {"map", "mean", "pfp"}
            See the module docstring.
        n_samples : int, optional (default ``test_samples``)
        seed : int, optional
            Seed of the sampling for ``mean``/``pfp`` (default: the model's seed).
        """
        self._check_fitted()
        X, _ = self._check_xy(X, None, "prediction input")
        self._check_input_shape(X, "prediction input")
        xs = self._inputs(X)
        s = self.test_samples if n_samples is None else int(n_samples)
        if s < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        rng = np.random.default_rng(self.seed if seed is None else seed)
        if mode == "map":
            return self._probs(net.forward_eval(self.deployable_weights(), xs, self.arch_, self.deploy_stats_))
        if mode == "mean":
            return self._predict_mean_inputs(xs, s, rng)
        if mode == "pfp":
            if not self.learner_.pfp:
                ok = [n for n, l in learners.LEARNERS.items() if l.pfp]
                raise ValueError(f"mode 'pfp' is for rule {' or '.join(map(repr, ok))}, this model was trained "
                                 f"with {self.rule!r}")
            mus, vars_ = self.learner_.moments(self.params_)
            network = self.arch_.network()
            out = np.zeros((xs.shape[0], self.arch_.sizes[-1]))
            step = network.chunk_rows(4096)
            for c in range(0, xs.shape[0], step):
                mu_z, var_z, _ = network.pfp_forward(mus, vars_, xs[c:c + step], None, list(self.running_),
                                                     train=False)
                sd = np.sqrt(var_z.astype(np.float64))
                out[c:c + step] = np.mean([self._probs(mu_z + sd * rng.standard_normal(mu_z.shape))
                                           for _ in range(s)], axis=0)
            return out
        raise ValueError(f"mode must be 'map', 'mean' or 'pfp', got {mode!r}")

    def predict(self, X, mode: str = "map", n_samples: int | None = None, seed: int | None = None) -> np.ndarray:
        """Predicted labels (M,) int64: ``classes_`` at the first maximum of :meth:`predict_proba`."""
        probs = self.predict_proba(X, mode, n_samples, seed)
        return self.classes_[np.argmax(probs, axis=1)]

    def score(self, X, y, mode: str = "map") -> float:
        """Accuracy on (X, y); an image whose label is not among ``classes_`` counts as wrong."""
        self._check_fitted()
        X, y = self._check_xy(X, y, "scoring set")
        return float(np.mean(self.predict(X, mode) == y))

    def evaluate(self, X, y, mode: str = "map", n_samples: int | None = None, seed: int | None = None) -> dict:
        """``{"acc", "nll", "ece"}`` on (X, y). Images whose label is not among ``classes_`` (the network has no
        output for it) count as wrong in ``acc`` and are left out of ``nll``/``ece``; when there are any,
        ``unknown_class`` holds their number."""
        self._check_fitted()
        X, y = self._check_xy(X, y, "evaluation set")
        return self._summary(self.predict_proba(X, mode, n_samples, seed), self._label_index(y))

    # ---------------------------------------------------------------------------------------- persistence
    def to_arrays(self) -> dict[str, np.ndarray]:
        """The posterior-file arrays (names documented in :mod:`lowprec_rbm.nn.schema`)."""
        self._check_fitted()
        name = self.learner_.param_name
        arrays: dict[str, np.ndarray] = {}
        for i, p in enumerate(self.params_):
            arrays[f"layer{i}.{name}"] = self.learner_.to_file(p)
            if self.lam0_ is not None:
                arrays[f"layer{i}.lam0"] = np.asarray(self.lam0_[i], dtype=np.float32)
        arrays["logit_scale"] = np.array([self.gamma], dtype=np.float64)
        for i, (st, run) in enumerate(zip(self.deploy_stats_, self.running_)):
            arrays[f"bn{i}.mean"] = np.asarray(st.mean, dtype=np.float64)
            arrays[f"bn{i}.var"] = np.asarray(st.var, dtype=np.float64)
            arrays[f"bn{i}.running_mean"] = np.asarray(run.mean, dtype=np.float64)
            arrays[f"bn{i}.running_var"] = np.asarray(run.var, dtype=np.float64)
        return arrays

    def _arch_config(self) -> dict:
        """The subclass's architecture keys of the config (:mod:`lowprec_rbm.nn.schema`)."""
        raise NotImplementedError

    def _arch_identity(self) -> dict:
        """Architecture keys a resumed run must share with its checkpoint."""
        raise NotImplementedError

    @staticmethod
    def _arch_text(arch: Architecture) -> str:
        raise NotImplementedError

    @classmethod
    def _arch_kwargs(cls, lay) -> dict:
        """Constructor arguments of the subclass's architecture from a posterior's :class:`~.schema.Layout`."""
        raise NotImplementedError

    def config(self) -> dict:
        """JSON-able configuration (flat architecture keys, as ``lowprec_rbm.derive`` reads them)."""
        self._check_fitted_params()
        cfg = self.arch_.to_dict()
        cfg.update(self._arch_config())
        cfg.update({
            "n_classes": int(self.arch_.sizes[-1]),
            "classes": [int(c) for c in self.classes_],
            "rule": self.rule,
            "rule_params": dict(self.hparams_),
            "lr_schedule": self.lr_schedule,
            "epochs": int(self.epochs),
            "batch_size": int(self.batch_size),
            "bn_eval": self.bn_eval,
            "bn_calib": int(self.bn_calib),
            "bn_stats": ("population statistics of the deployable network on the calibration subset"
                         if self.bn_eval == "recompute" or not self.learner_.running_stats_ok
                         else "training running averages"),
            "test_samples": int(self.test_samples),
            "logit_scale": self.logit_scale,
            "logit_scale_value": self.gamma,
            "mean_predictor": "softmax probabilities averaged over test_samples sampled networks",
            "seed": int(self.seed),
            "n_train": int(getattr(self, "n_train_", 0)),
            "weights": f"layer{{i}}.{self.learner_.param_name}",
            "deployable": self.learner_.deployable_text,
        })
        return cfg

    def save(self, path, extra: Mapping[str, Any] | None = None):
        """Write a posterior file (kind :attr:`KIND`); ``extra`` is merged into the JSON header (e.g. data source)."""
        from lowprec_rbm.nn import schema

        meta = {"kind": self.KIND, "config": self.config(), "history": list(getattr(self, "history_", []))}
        for key, value in dict(extra or {}).items():
            if key in ("config", "history"):
                if not isinstance(value, Mapping) or key == "history":
                    raise ValueError(f"extra key {key!r} is reserved")
                meta["config"].update(value)
            else:
                meta[key] = value
        return schema.save(path, self.to_arrays(), meta)

    @classmethod
    def load(cls, path) -> "Classifier":
        """Rebuild a fitted classifier from a posterior file written by :meth:`save`."""
        from lowprec_rbm.nn import schema
        from lowprec_rbm.posterior_file import PosteriorFileError

        arrays, meta, lay = schema.load(path, kind=cls.KIND)
        cfg = lay.config
        try:
            model = cls(**cls._arch_kwargs(lay), activation=cfg["activation"], input=cfg["input"],
                        threshold=cfg["threshold"], rule=cfg["rule"], rule_params=None,
                        lr_schedule=cfg["lr_schedule"], epochs=cfg["epochs"], batch_size=cfg["batch_size"],
                        bn_eps=cfg["bn_eps"], bn_momentum=cfg["bn_momentum"], dropout=cfg["dropout"],
                        input_dropout=cfg["input_dropout"], bn_eval=cfg["bn_eval"], bn_calib=cfg["bn_calib"],
                        test_samples=cfg["test_samples"], logit_scale=cfg.get("logit_scale", "fixed"),
                        seed=cfg["seed"])
            hp = dict(cfg["rule_params"])
        except KeyError as exc:
            raise PosteriorFileError(f"{path}: {cls.KIND.upper()} posterior config lacks {exc}") from None
        lr = hp.pop("lr", None)
        model.lr = lr
        model.rule_params = hp
        model._validate(lay.in_shape, lay.n_classes)
        if tuple(model.arch_.blocks) != tuple(lay.blocks):
            raise PosteriorFileError(f"{path}: config 'layers' {list(lay.blocks)} is not the network the other "
                                     f"settings build ({list(model.arch_.blocks)})")
        learner = model.learner_
        name = learner.param_name
        params, deploy, running = [], [], []
        for i, shape in enumerate(lay.weight_shapes):
            key = f"layer{i}.{name}"
            if key not in arrays:
                raise PosteriorFileError(f"{path}: missing array {key!r} (rule {model.rule!r})")
            params.append(learner.from_file(arrays[key]))
            for dst, a, b in ((deploy, "mean", "var"), (running, "running_mean", "running_var")):
                ka, kb = f"bn{i}.{a}", f"bn{i}.{b}"
                if ka not in arrays or kb not in arrays:
                    raise PosteriorFileError(f"{path}: missing array {ka!r} or {kb!r}")
                dst.append(BNStats(arrays[ka].astype(np.float64), arrays[kb].astype(np.float64)))
        model.params_ = params
        model.deploy_stats_ = deploy
        model.running_ = running
        model.lam0_ = ([arrays[f"layer{i}.lam0"] for i in range(len(params))]
                       if "layer0.lam0" in arrays else None)
        gam = float(np.asarray(arrays.get("logit_scale", np.ones(1))).ravel()[0])
        if not (np.isfinite(gam) and gam > 0):
            raise PosteriorFileError(f"{path}: logit_scale must be a positive number, got {gam}")
        model.log_scale_ = np.array([np.log(gam)], dtype=np.float32)
        model.n_classes_ = lay.n_classes
        model.classes_ = schema.classes(cfg, lay.n_classes, path)
        model.n_train_ = int(cfg.get("n_train", 0))
        model.history_ = list(meta.get("history", []))
        return model
