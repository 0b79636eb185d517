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

import collections.abc
import math
import numbers
import time
import warnings
from typing import Any, Callable, Mapping

import numpy as np

from lowprec_rbm import checkpoint as ckpt
from lowprec_rbm.base import (BaseEstimator, DataConversionWarning, Interval, Options, check_is_fitted,
                              check_random_state)
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


class Classifier(BaseEstimator):
    """Feed-forward classifier with ±1, ternary or real weights (base of the MLP and CNN classifiers).

    Every hyper-parameter is keyword-only, stored unchanged by ``__init__`` and validated by :meth:`fit`
    (:mod:`lowprec_rbm.base`); ``get_params``/``set_params``/``clone`` work as in scikit-learn.

    Parameters
    ----------
    activation : {"relu", "sign"}
        Hidden activation; ``sign`` (straight-through hard-tanh gradient) gives XNOR-ready networks.
    input_encoding : {"real", "binary", "bitplanes"}, default "real"
        How the inputs enter layer 0. uint8 (or any integer) inputs are pixels 0..255 with intensity
        ``pixel / 255``; float inputs are intensities as they are (e.g. a scaler's output). ``real``: the
        intensity; ``binary``: ±1 at ``threshold`` (intensity >= threshold -> +1); ``bitplanes``: the exact 8-bit
        pixel (integer inputs only). Exports take uint8 pixels.
    threshold : float in (0, 1], default 0.5
        Binarisation threshold (intensity) for ``input_encoding="binary"``.
    rule : {"bayesbinn", "ste", "adam", "ternary-vi"}, default "bayesbinn"
    learning_rate : float > 0, optional
        Initial learning rate (default: the rule's, :data:`RULE_DEFAULTS`).
    rule_params : dict, optional
        Other hyper-parameters of the rule (see :data:`RULE_DEFAULTS`); unknown keys are an error in ``fit``.
    schedule : {"cosine", "constant"}, default "cosine"
        ``cosine``: ``lr_e = learning_rate (1 + cos(π e / epochs)) / 2`` for epoch ``e = 0..epochs−1``, constant
        within an epoch (the published code steps ``CosineAnnealingLR`` before each epoch, i.e. uses ``e + 1``,
        which makes its last epoch a no-op; here the last epoch still learns).
    epochs, batch_size : int
        Each epoch shuffles the training set and takes ``n // batch_size`` full batches (``batch_size >= 2``:
        batch norm needs a batch; a training set smaller than ``batch_size`` is an error).
    bn_eps, bn_momentum : float
    dropout, input_dropout : float in [0, 1)
    bn_eval : {"recompute", "running"}
    bn_calib : int >= 2
        Size of the calibration subset for ``bn_eval="recompute"`` (and for the train accuracy in the history).
    test_samples : int >= 1
        Networks sampled for posterior-mean predictions (``predict_mode="mean"``, and the history's).
    eval_mean_every : int >= 0
        Evaluate the posterior-mean predictor on the validation set every this many epochs (0: last epoch only).
    logit_scale : {"learned", "fixed"}
        See "Output scale" in the module docstring.
    predict_mode : {"map", "mean", "pfp"}, default "map"
        What :meth:`predict`, :meth:`predict_proba` and :meth:`score` compute unless told otherwise: the
        deployable (MAP) network, the posterior mean over ``test_samples`` sampled networks, or (ternary VI)
        the probabilistic forward pass. See "Predictions" in the module docstring.
    warm_start : bool
        When already fitted, :meth:`fit` continues from the current parameters (new task, continual learning).
    prior : {"uniform", "previous"}
        BayesBiNN prior λ0 of a ``warm_start`` fit: uniform (0), or the posterior at the start of this fit (the
        previous task's posterior). :meth:`partial_fit` always uses the previous posterior where the rule has one.
    random_state : None, int >= 0 or numpy.random.Generator, default 0
        Source of every random draw (initialisation, minibatch order, sampling, calibration subset). An int
        reproduces a run; a Generator is advanced; None draws fresh OS entropy. The seed actually used is
        ``seed_`` (recorded as ``seed`` in posterior files).
    verbose : bool or int, default False
        Progress bar and one line per epoch on stderr.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels of the output units, in order: the labels present in the training set (or ``classes`` of
        the first :meth:`partial_fit`), sorted. Any labels: ints, strings, ...
    n_features_in_ : int
        Features per example seen by ``fit`` (pixels × channels).
    arch_ : Architecture
    params_ : list of ndarray, one per layer (λ, latent weights, weights or logits)
    running_ : list of BNStats (training running averages)
    deploy_stats_ : list of BNStats of the deployable network
    history_ : list of dict, one per epoch
    n_train_ : int
    seed_ : int
        The seed the last fit drew its streams from (``random_state`` itself when it is an int).

    Examples
    --------
    The concrete classifiers are :class:`~lowprec_rbm.nn.mlp.MLPClassifier` and
    :class:`~lowprec_rbm.nn.cnn.CNNClassifier`; they share these parameters:

    >>> from lowprec_rbm.nn import Classifier, MLPClassifier
    >>> issubclass(MLPClassifier, Classifier)
    True
    >>> MLPClassifier(learning_rate=0.05).set_params(random_state=3).get_params()["learning_rate"]
    0.05
    """

    KIND = ""                      # posterior kind ("mlp", "cnn")
    _estimator_type = "classifier"

    _parameter_constraints: dict = {
        "activation": [Options("relu", "sign")],
        "input_encoding": [Options(*net.INPUT_MODES)],
        "threshold": [Interval(float, 0, 1, closed="right")],
        "rule": [Options(*RULES)],
        "learning_rate": [None, Interval(float, 0, None, closed="neither")],
        "rule_params": [None, collections.abc.Mapping],
        "schedule": [Options("cosine", "constant")],
        "epochs": [Interval(int, 1, None)],
        "batch_size": [Interval(int, 2, None)],
        "bn_eps": [Interval(float, 0, None, closed="neither")],
        "bn_momentum": [Interval(float, 0, 1)],
        "dropout": [Interval(float, 0, 1, closed="left")],
        "input_dropout": [Interval(float, 0, 1, closed="left")],
        "bn_eval": [Options("recompute", "running")],
        "bn_calib": [Interval(int, 2, None)],
        "test_samples": [Interval(int, 1, None)],
        "eval_mean_every": [Interval(int, 0, None)],
        "logit_scale": [Options("learned", "fixed")],
        "predict_mode": [Options("map", "mean", "pfp")],
        "warm_start": ["boolean"],
        "prior": [Options("uniform", "previous")],
        "random_state": ["random_state"],
        "verbose": ["boolean", Interval(int, 0, None)],
    }

    def __sklearn_tags__(self):
        """scikit-learn's tags (called by scikit-learn only, so importing it here keeps the core free of it):
        a multi-class, single-output classifier of dense 2-d arrays without NaN, deterministic given
        ``random_state``."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags(multi_class=True, multi_label=False),
                    input_tags=InputTags(two_d_array=True, sparse=False, allow_nan=False))

    def _store(self, params: Mapping[str, Any]) -> None:
        """Store the ``__init__`` arguments unchanged under their own names (``params`` is ``locals()``)."""
        for name in self._get_param_names():
            setattr(self, name, params[name])

    # ------------------------------------------------------------------------------------------ validation
    def _architecture(self, in_shape: tuple, n_classes: int, common: dict) -> Architecture:
        """The subclass's Architecture for per-example inputs of ``in_shape`` and ``n_classes`` outputs."""
        raise NotImplementedError

    def _validate(self, in_shape: tuple, n_classes: int, continual: bool = False) -> None:
        """Check the hyper-parameters (declarative table, then the rule's own checks) and build ``arch_``."""
        self._validate_params()
        learner = learners.get(self.rule)
        name = type(self).__name__
        if self.prior == "previous" and not continual and not (self.warm_start and learner.supports_prior):
            ok = [n for n, l in learners.LEARNERS.items() if l.supports_prior]
            raise ValueError(f"{name}: prior='previous' needs rule={' or '.join(map(repr, ok))} and "
                             "warm_start=True (a previous posterior)")
        hp = dict(RULE_DEFAULTS[self.rule])
        extra = dict(self.rule_params or {})
        unknown = sorted(set(extra) - set(hp))
        if unknown:
            raise ValueError(f"{name}: unknown hyper-parameter(s) {unknown} in rule_params for rule {self.rule!r}; "
                             f"known: {sorted(hp)}")
        hp.update(extra)
        if self.learning_rate is not None:
            hp["lr"] = self.learning_rate
        lr = hp["lr"]
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"{name}: the learning rate must be a finite number > 0, got {lr!r}")
        hp["lr"] = float(lr)
        learner.check(hp, self.activation)
        common = dict(activation=self.activation, input=self.input_encoding, threshold=float(self.threshold),
                      bn_eps=float(self.bn_eps), bn_momentum=float(self.bn_momentum), dropout=float(self.dropout),
                      input_dropout=float(self.input_dropout))
        self.arch_ = self._architecture(tuple(int(d) for d in in_shape), int(n_classes), common)
        self.learner_ = learner
        self.hparams_ = hp

    # ------------------------------------------------------------------------------------------ data checks
    def _shape_images(self, X: np.ndarray, what: str) -> np.ndarray:
        """Examples as the subclass reads them: (M, D) for an MLP, (M, H, W, C) for a CNN."""
        if X.ndim < 2:
            raise ValueError(f"{what}: expected a 2-d array X of shape (n_samples, n_features) (or images "
                             f"(M, H, W)), got shape {X.shape}. Reshape your data: X.reshape(1, -1) for a single example")
        return X.reshape(X.shape[0], -1)

    def _check_input_shape(self, X: np.ndarray, what: str) -> None:
        """ValueError unless examples ``X`` (as :meth:`_shape_images` returns them) fit the fitted network."""
        if X.shape[1:] != tuple(self.arch_.in_shape):
            n = int(np.prod(X.shape[1:]))
            if n != self.n_features_in_:
                raise ValueError(f"X has {n} features, but {type(self).__name__} is expecting "
                                 f"{self.n_features_in_} features as input ({what})")
            raise ValueError(f"{what}: images have shape {X.shape[1:]}; the network expects {self.arch_.in_shape}")

    def _check_X(self, X, what: str) -> np.ndarray:
        """Examples as uint8 pixels or float32 intensities, shaped by :meth:`_shape_images`.

        Integer (and bool) inputs are pixels and must lie in 0..255; float inputs are intensities and must be
        finite; ``input_encoding="bitplanes"`` needs integer pixels."""
        if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
            raise TypeError(f"{what}: sparse input is not supported; pass a dense array (X.toarray())")
        X = np.asarray(X)
        if X.dtype.kind == "c":
            raise ValueError(f"{what}: Complex data not supported, got dtype {X.dtype}")
        if X.dtype.kind in "OUS":
            X = X.astype(np.float64)   # a non-numeric entry raises float()'s TypeError, naming its type
        if X.dtype.kind not in "biuf":
            raise TypeError(f"{what}: X must be numeric (pixels or intensities), got dtype {X.dtype}")
        if X.ndim >= 1 and X.shape[0] == 0:
            raise ValueError(f"{what}: found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is "
                             "required")
        if X.ndim == 2 and X.shape[1] == 0:
            raise ValueError(f"{what}: X has 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
        if X.dtype.kind == "f":
            if not np.all(np.isfinite(X)):
                raise ValueError(f"{what}: Input X contains NaN or infinity")
            if self.input_encoding == "bitplanes":
                raise TypeError(f"{what}: input_encoding='bitplanes' takes integer pixels 0..255, got dtype "
                                f"{X.dtype}")
            X = X.astype(np.float32, copy=False)
        elif X.dtype != np.uint8:
            if X.size and (X.min() < 0 or X.max() > 255):
                raise ValueError(f"{what}: integer inputs are pixels and must lie in 0..255, found "
                                 f"{X.min()}..{X.max()} (pass floats for other intensities)")
            X = X.astype(np.uint8)
        return self._shape_images(X, what)

    def _check_y(self, y, n: int, what: str, n_classes: int | None = None) -> np.ndarray:
        """Labels as a 1-d array of n entries (ints, strings, bools or integral floats)."""
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None ({what})")
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected; it is used as y.ravel()",
                          DataConversionWarning, stacklevel=3)
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(f"{what}: labels y must be a 1-d array, got shape {y.shape}")
        if y.shape[0] != n:
            raise ValueError(f"{what}: {n} examples but {y.shape[0]} labels")
        if y.dtype.kind == "f":
            if np.isnan(y).any():
                raise ValueError(f"{what}: Input y contains NaN.")
            if not np.isfinite(y).all():
                raise ValueError(f"{what}: Input y contains infinity or a value too large for dtype('float64').")
            if np.any(y != np.round(y)):
                raise ValueError(f"{what}: Unknown label type: continuous (a classifier needs class labels: "
                                 "ints, strings or integral floats)")
        if n_classes is not None:
            if y.dtype.kind not in "iu":
                raise TypeError(f"{what}: declared classes 0..{n_classes - 1} need integer labels, got {y.dtype}")
            bad = np.flatnonzero((y < 0) | (y >= n_classes))
            if bad.size:
                raise ValueError(f"{what}: label {y[bad[0]]} at index {bad[0]} is not among the declared classes "
                                 f"0..{n_classes - 1} ({bad.size} such label{'s' if bad.size > 1 else ''})")
        return y.astype(np.int64) if y.dtype.kind in "iu" else y

    def _check_xy(self, X, y, what: str, n_classes: int | None = None):
        X = self._check_X(X, what)
        if y is None:
            return X, None
        return X, self._check_y(y, X.shape[0], what, n_classes)

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
        """Examples from :meth:`_check_X` -> float32 network inputs (M, D); the network reshapes.

        uint8 pixels go through :func:`lowprec_rbm.nn.network.prepare_inputs` (intensity ``pixel / 255``, the
        exported graph's arithmetic); float intensities enter as they are (``real``) or as ±1 at ``threshold``
        (``binary``, ``sign(0) = +1``: an intensity exactly at the threshold is +1)."""
        if X.dtype == np.uint8:
            return net.prepare_inputs(X, self.arch_.input, self.arch_.threshold)
        flat = X.reshape(X.shape[0], -1)
        if self.arch_.input == "binary":
            return np.where(flat >= np.float32(self.arch_.threshold), 1.0, -1.0).astype(np.float32)
        return flat.astype(np.float32, copy=False)

    # --------------------------------------------------------------------------------------------- fitting
    def fit(self, X, y, X_val=None, y_val=None, eval_sets: Mapping[str, tuple] | None = None,
            n_classes: int | None = None, *, checkpoint=None, resume: bool = False,
            run_config: Mapping[str, Any] | None = None, stop: Callable[[], bool] | None = None
            ) -> "Classifier":
        """Train on examples ``X`` and labels ``y``.

        The network's classes are the labels present in ``y``, in increasing order (``classes_``): output unit
        ``j`` is label ``classes_[j]``. A label absent from ``y`` has no output unit and is never predicted.

        Parameters
        ----------
        X : array-like
            uint8 (or integer) pixels 0..255 or float intensities; shape (M, D) for an MLP (images (M, H, W)
            are flattened), see the subclass for a CNN.
        y : array-like of shape (M,)
            Class labels of any kind numpy can sort (ints, strings, ...).
        X_val, y_val : optional validation set (per-epoch accuracy, NLL, ECE of the deployable network)
        eval_sets : dict name -> (X, y), optional
            Extra sets evaluated every epoch (e.g. ``{"test": (x_test, y_test)}``), recorded as ``{name}_acc``.
            Images of evaluation sets whose label is not among ``classes_`` count as wrong in the accuracy and
            are left out of NLL and ECE; their number is recorded as ``{name}_unknown_class`` and warned about.
        n_classes : int, optional
            The number of classes the data declares (integer labels ``0..n_classes-1``): any label outside, in
            any set, is an error naming the set and the index (a corrupt label byte). It adds no output units.
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

        Returns
        -------
        self
        """
        warm = bool(self.warm_start) and hasattr(self, "params_") and hasattr(self, "arch_")
        return self._fit(X, y, X_val, y_val, eval_sets, n_classes, checkpoint=checkpoint, resume=resume,
                         run_config=run_config, stop=stop, warm=warm, continual=False)

    def partial_fit(self, X, y, classes=None) -> "Classifier":
        """Continual learning: train ``epochs`` more epochs on ``(X, y)``, the previous posterior as the prior.

        The first call (unfitted model) is :meth:`fit`, with output units for ``classes`` (default: the labels
        in ``y``). Every later call starts from the current parameters; for a rule with a posterior prior
        (``bayesbinn``) the posterior at the start of the call becomes the prior λ0 of this call (the
        Bayesian continual-learning update, as ``warm_start=True, prior="previous"`` does); other rules
        continue from their current weights. Labels must be among ``classes_``.

        Parameters
        ----------
        X, y : as :meth:`fit`
        classes : array-like, optional
            All labels the model will ever see (first call only; later calls may repeat ``classes_``).

        Returns
        -------
        self
        """
        fitted = hasattr(self, "params_") and hasattr(self, "arch_")
        if classes is not None:
            classes = np.unique(self._check_y(classes, len(classes), "partial_fit classes"))
            if fitted and not np.array_equal(classes, self.classes_):
                raise ValueError(f"{type(self).__name__}: classes={classes.tolist()} differs from the fitted "
                                 f"classes_ {self.classes_.tolist()}")
        return self._fit(X, y, None, None, None, None, checkpoint=None, resume=False, run_config=None, stop=None,
                         warm=fitted, continual=fitted, classes=classes)

    def _fit(self, X, y, X_val, y_val, eval_sets, n_classes, *, checkpoint, resume, run_config, stop, warm: bool,
             continual: bool, classes=None) -> "Classifier":
        """The training loop of :meth:`fit` (``warm``: continue from the current parameters) and
        :meth:`partial_fit` (``continual``: also the previous posterior as the prior)."""
        name = type(self).__name__
        self._validate_params()
        X = self._check_X(X, "training set")
        y = self._check_y(y, X.shape[0], "training set", n_classes)
        if warm:
            given = self.classes_
        elif classes is not None:
            given = classes
        else:
            given = np.unique(y)
        if len(given) < 2:
            raise ValueError(f"{name}: need at least 2 classes to train a classifier, found {len(given)} class "
                             f"({given.tolist()})")
        extra = np.setdiff1d(np.unique(y), given)
        if extra.size:
            what = "the fitted classes_" if warm else "classes"
            raise ValueError(f"{name}: labels {extra.tolist()} are not among {what} {given.tolist()}")
        if warm and not continual and not np.array_equal(np.unique(y), self.classes_):
            raise ValueError(f"warm_start: the fitted network has classes {self.classes_.tolist()}; this fit's "
                             f"labels are {np.unique(y).tolist()}")
        if warm and (checkpoint is not None or resume):
            raise ValueError("checkpoints are not supported with warm_start (a continued fit)")
        if resume and checkpoint is None:
            raise ValueError("resume=True needs the checkpoint path")
        old_arch = self.arch_ if warm else None
        if warm and int(np.prod(X.shape[1:])) != self.n_features_in_:
            raise ValueError(f"X has {int(np.prod(X.shape[1:]))} features, but {name} is expecting "
                             f"{self.n_features_in_} features as input (a continued fit)")
        self._validate(X.shape[1:], len(given), continual=continual)
        if warm and (old_arch.blocks != self.arch_.blocks or old_arch.in_shape != self.arch_.in_shape
                     or old_arch.activation != self.arch_.activation):
            raise ValueError(f"warm_start: the fitted network is {self._arch_text(old_arch)} ({old_arch.activation}); "
                             f"this fit asks for {self._arch_text(self.arch_)} ({self.arch_.activation})")
        if X.shape[0] < self.batch_size:
            raise ValueError(f"{name}: the training set has {X.shape[0]} examples, fewer than "
                             f"batch_size={self.batch_size}")
        self.seed_ = self._draw_seed()
        self.classes_ = given
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        y_lab = y
        y = self._label_index(y_lab)
        sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if X_val is not None:
            sets["val"] = self._check_xy(X_val, y_val, "validation set", n_classes)
        for set_name, (xs, ys) in dict(eval_sets or {}).items():
            if set_name in ("val", "train"):
                raise ValueError(f"eval_sets name {set_name!r} is reserved")
            sets[set_name] = self._check_xy(xs, ys, f"eval set {set_name!r}", n_classes)
        identity = self._run_identity(X, y_lab, sets, run_config)
        for set_name, (xs, ys) in sets.items():
            yi = self._label_index(ys)
            if np.any(yi < 0):
                missing = sorted(set(ys[yi < 0].tolist()))
                what = "validation set" if set_name == "val" else f"eval set {set_name!r}"
                warnings.warn(f"{what}: {int(np.sum(yi < 0))} of {len(ys)} images have labels {missing} "
                              f"that the training set lacks; the network cannot predict them, so they count as "
                              f"wrong (and are left out of NLL/ECE)", RuntimeWarning, stacklevel=3)
            sets[set_name] = (xs, yi)
        arch, hp = self.arch_, self.hparams_
        self.fit_count_ = getattr(self, "fit_count_", 0) + 1 if warm else 1
        ss = np.random.SeedSequence([int(self.seed_), self.fit_count_ - 1])
        init_rng, train_rng, eval_rng = (np.random.default_rng(s) for s in ss.spawn(3))
        self.n_classes_ = len(given)
        self.n_train_ = int(X.shape[0])
        xin = self._inputs(X)
        calib_idx = np.sort(init_rng.permutation(X.shape[0])[:min(self.bn_calib, X.shape[0])])
        self.calib_x_ = xin[calib_idx]
        calib_y = y[calib_idx]
        set_inputs = {name: (self._inputs(xs), ys) for name, (xs, ys) in sets.items()}

        shapes = arch.weight_shapes
        learner = self.learner_
        if warm:
            previous = continual if continual else self.prior == "previous"
            self.lam0_ = [p.copy() for p in self.params_] if previous and learner.supports_prior else None
        else:
            self.params_ = learner.init_params(shapes, init_rng, hp)
            self.lam0_ = None
            self.running_ = [BNStats(np.zeros(sh[0]), np.ones(sh[0])) for sh in shapes]

        steps = self.n_train_ // self.batch_size
        if self.schedule == "cosine":
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
                          quiet=not self.verbose, unit="batch")
            with self.arch_.network().recycling():   # reuse the last step's large buffers (same bits)
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
        names = ("activation", "threshold", "rule", "epochs", "batch_size", "bn_eps",
                 "bn_momentum", "dropout", "input_dropout", "bn_eval", "bn_calib", "test_samples",
                 "eval_mean_every", "logit_scale", "prior")
        out = {k: getattr(self, k) for k in names}
        # The keys of checkpoints written before the parameters were renamed, so those still resume.
        out.update(input=self.input_encoding, lr_schedule=self.schedule, seed=self.seed_)
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

    def _draw_seed(self) -> int:
        """The seed of this fit's streams: ``random_state`` itself when it is an int; otherwise drawn from the
        Generator (advancing it) or, for None, from fresh OS entropy."""
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            return int(rs)
        return int(check_random_state(rs).integers(0, 2**63 - 1))

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
        log(" | ".join(parts), quiet=not self.verbose)

    # ------------------------------------------------------------------------------------------- predicting
    def _check_fitted_params(self) -> None:
        check_is_fitted(self, ["params_", "arch_"])

    def _check_fitted(self) -> None:
        check_is_fitted(self, ["params_", "arch_", "deploy_stats_"])

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
        X = self._check_X(X, "calibration set")
        self._check_input_shape(X, "calibration set")
        if X.shape[0] < 2:
            raise ValueError(f"need at least 2 calibration images, got {X.shape[0]}")
        self.calib_x_ = self._inputs(X)
        self.deploy_stats_ = self._stats_for(self.deployable_weights())
        return self

    def predict_proba(self, X, mode: str | None = None, n_samples: int | None = None, seed: int | None = None
                      ) -> np.ndarray:
        """Class probabilities; column ``j`` is label ``classes_[j]``.

        Parameters
        ----------
        X : array-like, the shape and encoding :meth:`fit` took
        mode : {"map", "mean", "pfp"}, optional
            Default ``predict_mode``; see "Predictions" in the module docstring.
        n_samples : int, optional (default ``test_samples``)
        seed : int, optional
            Seed of the sampling for ``mean``/``pfp`` (default: ``seed_``, so repeated calls agree).

        Returns
        -------
        ndarray of shape (n_samples_X, n_classes), float64, rows summing to 1
        """
        self._check_fitted()
        X = self._check_X(X, "prediction input")
        self._check_input_shape(X, "prediction input")
        xs = self._inputs(X)
        mode = self.predict_mode if mode is None else mode
        s = self.test_samples if n_samples is None else int(n_samples)
        if s < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        rng = np.random.default_rng(self.seed_ if seed is None else seed)
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

    def predict(self, X, mode: str | None = None, n_samples: int | None = None, seed: int | None = None
                ) -> np.ndarray:
        """Predicted labels: ``classes_`` at the first maximum of :meth:`predict_proba` (same arguments).

        Returns
        -------
        ndarray of shape (n_samples_X,), the dtype of ``classes_``
        """
        probs = self.predict_proba(X, mode, n_samples, seed)
        return self.classes_[np.argmax(probs, axis=1)]

    def score(self, X, y, sample_weight=None, mode: str | None = None) -> float:
        """Mean accuracy on (X, y) (weighted by ``sample_weight``); a label not among ``classes_`` counts as
        wrong. ``mode`` as :meth:`predict_proba` (default ``predict_mode``)."""
        self._check_fitted()
        X, y = self._check_xy(X, y, "scoring set")
        hit = (self.predict(X, mode) == y).astype(np.float64)
        if sample_weight is None:
            return float(np.mean(hit))
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.shape != hit.shape:
            raise ValueError(f"sample_weight has shape {w.shape}, expected {hit.shape}")
        return float(np.sum(w * hit) / np.sum(w))

    def evaluate(self, X, y, mode: str | None = None, n_samples: int | None = None, seed: int | None = None
                 ) -> dict:
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
        """Constructor arguments of the subclass's architecture from a posterior's :class:`~.schema.Layout`
        (files written before ``params`` was recorded)."""
        raise NotImplementedError

    @classmethod
    def _param_from_json(cls, name: str, value: Any) -> Any:
        """A hyper-parameter as ``params`` in a posterior file holds it -> the value ``get_params`` gave
        (JSON has no tuples: the subclass restores its sequence parameters)."""
        if name == "random_state" and isinstance(value, Mapping):
            return _generator_from_state(value)
        return value

    def _params_json(self) -> dict:
        """Every hyper-parameter, JSON-able: a ``Generator`` random_state as its bit generator's state."""
        out = {}
        for name, value in self.get_params(deep=False).items():
            if isinstance(value, np.random.Generator):
                value = ckpt.rng_state(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[name] = ckpt.jsonable(value)
        return out

    def config(self) -> dict:
        """JSON-able configuration: the network (flat architecture keys, as ``lowprec_rbm.derive`` reads them),
        the run, and ``params``, every hyper-parameter by its ``__init__`` name (what :meth:`load` restores)."""
        self._check_fitted_params()
        cfg = self.arch_.to_dict()
        cfg.update(self._arch_config())
        cfg.update({
            "n_classes": int(self.arch_.sizes[-1]),
            "classes": [c.item() if isinstance(c, np.generic) else c for c in self.classes_],
            "rule": self.rule,
            "rule_params": dict(self.hparams_),
            "lr_schedule": self.schedule,
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
            "seed": int(self.seed_),
            "n_train": int(getattr(self, "n_train_", 0)),
            "n_features_in": int(self.n_features_in_),
            "weights": f"layer{{i}}.{self.learner_.param_name}",
            "deployable": self.learner_.deployable_text,
            "params": self._params_json(),
        })
        return cfg

    def _meta(self, extra: Mapping[str, Any] | None = None) -> dict:
        """The posterior file's JSON header (without the versions the file format adds)."""
        meta = {"kind": self.KIND, "config": self.config(), "history": list(getattr(self, "history_", []))}
        for key, value in dict(extra or {}).items():
            if key in ("config", "history"):
                if not isinstance(value, Mapping) or key == "history":
                    raise ValueError(f"extra key {key!r} is reserved")
                meta["config"].update(value)
            else:
                meta[key] = value
        return meta

    def save(self, path, extra: Mapping[str, Any] | None = None):
        """Write a posterior file (kind :attr:`KIND`); ``extra`` is merged into the JSON header (e.g. data source).

        Every hyper-parameter is recorded (config ``params``), so :meth:`load` gives back an estimator with
        the same ``get_params()``; a Generator ``random_state`` is stored as its bit generator's state.
        Class labels must be ints >= 0 or strings (JSON)."""
        from lowprec_rbm.nn import schema

        self._check_fitted()
        return schema.save(path, self.to_arrays(), self._meta(extra))

    def to_onnx(self, path=None, *, mode: str = "map", random_state: int | None = None,
                standard_ops: bool = False):
        """Export the deployable network as packed-bit ONNX: the same file ``lowprec export`` writes from this
        estimator's saved posterior (``lowprec export POSTERIOR -o PATH [--mode sample --seed N]
        [--standard-ops]``).

        Parameters
        ----------
        path : path-like, optional
            Where to write the model (atomically); None only returns it.
        mode : {"map", "sample"}
            MAP weights, or one network drawn from the posterior with ``numpy.random.default_rng(random_state)``.
        random_state : int >= 0, optional
            Seed of ``mode="sample"`` (default 0, as the CLI's); not allowed with ``mode="map"``.
        standard_ops : bool
            Inline every ``lowprec`` op into standard ONNX ops.

        Returns
        -------
        onnx.ModelProto
        """
        import json

        from lowprec_rbm.derive import posterior_to_onnx

        self._check_fitted()
        # The header exactly as the file holds it (a JSON round trip: tuples become lists, as in the file).
        meta = json.loads(json.dumps(self._meta(), sort_keys=True, allow_nan=False))
        return posterior_to_onnx((self.to_arrays(), meta), path, mode=mode, random_state=random_state,
                                 standard_ops=standard_ops)

    @classmethod
    def load(cls, path) -> "Classifier":
        """Rebuild a fitted classifier from a posterior file written by :meth:`save`.

        Hyper-parameters come from config ``params``. Files written before ``params`` existed are migrated
        from their flat config keys (:data:`LEGACY_CONFIG_KEYS`: ``input`` -> ``input_encoding``, ``seed`` ->
        ``random_state``, ``lr_schedule`` -> ``schedule``, ``rule_params["lr"]`` -> ``learning_rate``); the
        parameters such files never recorded (``warm_start``, ``prior``, ``eval_mean_every``, ``predict_mode``,
        ``verbose``) take their defaults, and a ``UserWarning`` names them.
        """
        from lowprec_rbm.nn import schema
        from lowprec_rbm.posterior_file import PosteriorFileError

        arrays, meta, lay = schema.load(path, kind=cls.KIND)
        cfg = lay.config
        names = cls._get_param_names()
        try:
            if "params" in cfg:
                stored = cfg["params"]
                if not isinstance(stored, Mapping):
                    raise PosteriorFileError(f"{path}: config 'params' must be a JSON object")
                unknown = sorted(set(stored) - set(names))
                if unknown:
                    raise PosteriorFileError(f"{path}: config 'params' has {unknown}, which {cls.__name__} does "
                                             f"not take (its parameters: {', '.join(names)})")
                kwargs = {k: cls._param_from_json(k, v) for k, v in stored.items()}
            else:
                kwargs = cls._legacy_params(cfg, lay)
                missing = sorted(set(names) - set(kwargs))
                if missing:
                    warnings.warn(f"{path}: written before hyper-parameters were recorded; {', '.join(missing)} "
                                  "take their defaults", UserWarning, stacklevel=2)
            model = cls(**kwargs)
        except KeyError as exc:
            raise PosteriorFileError(f"{path}: {cls.KIND.upper()} posterior config lacks {exc}") from None
        except TypeError as exc:
            raise PosteriorFileError(f"{path}: config 'params': {exc}") from None
        model.seed_ = int(cfg.get("seed", 0))
        try:
            model._validate(lay.in_shape, lay.n_classes, continual=True)
        except (TypeError, ValueError) as exc:
            raise PosteriorFileError(f"{path}: the recorded hyper-parameters are invalid: {exc}") from None
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
        model.n_features_in_ = int(np.prod(lay.in_shape))
        model.n_train_ = int(cfg.get("n_train", 0))
        model.history_ = list(meta.get("history", []))
        return model

    @classmethod
    def _legacy_params(cls, cfg: Mapping[str, Any], lay) -> dict:
        """Constructor arguments of a file written before config ``params``: its flat keys, renamed."""
        kwargs = dict(cls._arch_kwargs(lay))
        for key in ("activation", "threshold", "rule", "epochs", "batch_size", "bn_eps", "bn_momentum", "dropout",
                    "input_dropout", "bn_eval", "bn_calib", "test_samples"):
            kwargs[key] = cfg[key]
        kwargs["logit_scale"] = cfg.get("logit_scale", "fixed")   # files before the learned scale
        for old, new in LEGACY_CONFIG_KEYS.items():
            if old in cfg:
                kwargs[new] = cfg[old]
        hp = dict(cfg["rule_params"])
        kwargs["learning_rate"] = hp.pop("lr", None)
        kwargs["rule_params"] = hp
        return kwargs


#: Config keys of posterior files written before ``params`` was recorded -> today's parameter names.
LEGACY_CONFIG_KEYS = {"input": "input_encoding", "seed": "random_state", "lr_schedule": "schedule"}


def _generator_from_state(state: Mapping[str, Any]) -> np.random.Generator:
    """A ``numpy.random.Generator`` in the recorded state of its bit generator (``{"bit_generator": name, ...}``)."""
    name = state.get("bit_generator")
    bit_gen = getattr(np.random, str(name), None)
    if not (isinstance(bit_gen, type) and issubclass(bit_gen, np.random.BitGenerator)):
        raise ValueError(f"random_state: unknown bit generator {name!r}")
    gen = np.random.Generator(bit_gen())
    gen.bit_generator.state = dict(state)
    return gen
