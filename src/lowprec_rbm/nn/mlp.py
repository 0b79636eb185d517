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

from typing import Sequence

from lowprec_rbm.nn import network as net
from lowprec_rbm.nn.classifier import PARAM_NAMES, RULE_DEFAULTS, RULES, Classifier
from lowprec_rbm.nn.network import Architecture

__all__ = ["MLPClassifier", "RULES", "RULE_DEFAULTS", "PARAM_NAMES"]


class MLPClassifier(Classifier):
    """Feed-forward classifier with ±1, ternary or real weights and dense layers.

    Parameters
    ----------
    hidden : str or sequence of int, default (1024, 1024)
        Hidden layer sizes (``"1024,1024"`` is accepted).
    **kwargs
        Everything else as :class:`~lowprec_rbm.nn.classifier.Classifier` (activation, input, rule, ...).

    Examples
    --------
    >>> import numpy as np
    >>> from lowprec_rbm import MLPClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(200, 16), dtype=np.uint8)      # 200 examples of 16 pixels
    >>> y = np.where(X[:, :8].sum(axis=1) > X[:, 8:].sum(axis=1), 3, 7)
    >>> clf = MLPClassifier(hidden=(16,), activation="sign", epochs=3, batch_size=20).fit(X, y)
    >>> clf.classes_.tolist(), clf.predict(X[:4]).shape, clf.predict_proba(X[:3]).shape
    ([3, 7], (4,), (3, 2))
    """

    KIND = "mlp"

    def __init__(self, hidden: str | Sequence[int] = (1024, 1024), activation: str = "relu", **kwargs):
        super().__init__(activation=activation, **kwargs)
        self.hidden = hidden

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
