"""Binary and ternary multilayer perceptrons: :class:`MLPClassifier` (the engine is
:class:`lowprec_rbm.nn.classifier.Classifier`; rules in :mod:`lowprec_rbm.nn.learners`).

The network is ``dense -> BN -> activation`` per hidden layer and ``dense -> BN`` for the logits
(dense blocks of :mod:`lowprec_rbm.nn.stack`). Posterior kind ``"mlp"``; config ``sizes``, ``hidden`` and the
block list ``layers`` (:mod:`lowprec_rbm.nn.schema`).

``RULE_DEFAULTS``, per rule (``rule_params`` overrides them; unknown keys are an error). ``kl_weight`` (r)
multiplies the prior/KL term. r = 1 is the ELBO. For BayesBiNN with the expected-scale estimator the stationary
point is λ = λ0 − (N / r)·E[g]: at r = 1 the posterior over 1.9M weights stays so uncertain that the sampled
networks cannot fit (Fashion-MNIST, 784-1024-1024-10, 2 epochs: 78–80 % for the MAP network), while r = 1e-3 (a
tempered posterior that counts the data 1000 times) keeps it informative (median |λ| ≈ 1.2, 0.30 nats per
weight) at the accuracy of STE and of the published update; the published float32 code sits at the
deterministic limit (|λ| ~ 1e7). For ternary VI r = 0.01: at r = 1 the prior p(w = 0) = 0.5 wins for nearly
every weight (99.5 % zeros, 44 % accuracy after one epoch).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from lowprec_rbm.nn import network as net
from lowprec_rbm.nn.classifier import PARAM_NAMES, RULE_DEFAULTS, RULES, Classifier
from lowprec_rbm.nn.network import Architecture

__all__ = ["MLPClassifier", "RULES", "RULE_DEFAULTS", "PARAM_NAMES"]


def _hidden_ok(value) -> bool:
    """a comma-separated string like '1024,1024' or a sequence of positive ints"""
    try:
        net.parse_hidden(value)
    except (TypeError, ValueError):
        return False
    return True


class MLPClassifier(Classifier):
    """Multilayer perceptron with ±1, ternary or real weights (a scikit-learn compatible classifier).

    The network is ``dense -> BN -> activation`` per hidden layer and ``dense -> BN`` for the logits; inputs are
    flat: ``X`` of shape (n_samples, n_features) (images (M, H, W) are flattened).

    Parameters
    ----------
    hidden : str or sequence of int, default (1024, 1024)
        Hidden layer sizes (``"1024,1024"`` is accepted; ``()`` or ``""``: no hidden layer).
    activation : {"relu", "sign"}, default "relu"
    input_encoding, threshold, rule, learning_rate, rule_params, schedule, epochs, batch_size, bn_eps, \
bn_momentum, dropout, input_dropout, bn_eval, bn_calib, test_samples, eval_mean_every, logit_scale, \
predict_mode, warm_start, prior, random_state, verbose
        As :class:`~lowprec_rbm.nn.classifier.Classifier`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    params_, deploy_stats_, history_, seed_
        As :class:`~lowprec_rbm.nn.classifier.Classifier`.

    Examples
    --------
    >>> import numpy as np
    >>> from lowprec_rbm.nn import MLPClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(200, 16), dtype=np.uint8)      # 200 examples of 16 pixels
    >>> y = np.where(X[:, :8].sum(axis=1) > X[:, 8:].sum(axis=1), "left", "right")
    >>> clf = MLPClassifier(hidden=(16,), activation="sign", epochs=3, batch_size=20, random_state=1)
    >>> clf
    MLPClassifier(activation='sign', batch_size=20, epochs=3, hidden=(16,), random_state=1)
    >>> clf.fit(X, y).classes_.tolist()
    ['left', 'right']
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
    >>> clf.score(X, y) > 0.7
    True
    """

    KIND = "mlp"
    _parameter_constraints = {**Classifier._parameter_constraints, "hidden": [_hidden_ok]}

    def __init__(self, *, hidden: str | Sequence[int] = (1024, 1024), activation: str = "relu",
                 input_encoding: str = "real", threshold: float = 0.5, rule: str = "bayesbinn",
                 learning_rate: float | None = None, rule_params: Mapping[str, Any] | None = None,
                 schedule: str = "cosine", epochs: int = 10, batch_size: int = 100, bn_eps: float = 1e-4,
                 bn_momentum: float = 0.15, dropout: float = 0.0, input_dropout: float = 0.0,
                 bn_eval: str = "recompute", bn_calib: int = 10000, test_samples: int = 10,
                 eval_mean_every: int = 0, logit_scale: str = "learned", predict_mode: str = "map",
                 warm_start: bool = False, prior: str = "uniform", random_state=0, verbose: bool | int = False):
        self._store(locals())

    @classmethod
    def _param_from_json(cls, name, value):
        if name == "hidden" and isinstance(value, list):
            return tuple(value)
        return super()._param_from_json(name, value)

    def _architecture(self, in_shape, n_classes, common) -> Architecture:
        sizes = (int(in_shape[0]),) + net.parse_hidden(self.hidden) + (int(n_classes),)
        return Architecture(sizes, **common)

    def _arch_config(self) -> dict:
        return {"hidden": list(self.arch_.sizes[1:-1]), "layers": [dict(b) for b in self.arch_.blocks]}

    def _arch_identity(self) -> dict:
        return {"sizes": list(self.arch_.sizes)}

    @staticmethod
    def _arch_text(arch) -> str:
        return str(arch.sizes)

    @classmethod
    def _arch_kwargs(cls, lay) -> dict:
        if lay.image_shape is not None or any(b["kind"] != "dense" for b in lay.blocks):
            raise ValueError("this posterior is a convolutional network: load it with CNNClassifier")
        return {"hidden": tuple(b["out"] for b in lay.blocks[:-1])}
