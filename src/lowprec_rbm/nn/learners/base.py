"""What a learning rule of the classifiers owns, as one object (:class:`Learner`).

A learner decides everything about its weights; the classifier (:mod:`lowprec_rbm.nn.classifier`) only calls
these methods, so adding a rule is adding one module to this package (found by :mod:`lowprec_rbm.nn.learners`):

- representation: ``param_name`` (the posterior-file array ``layer{i}.<param_name>``), :meth:`init_params`,
  :meth:`to_file` / :meth:`from_file` (file layout), ``defaults`` (hyper-parameters), :meth:`check`;
- the update: :meth:`grads` (one minibatch through the network: loss, probabilities, the gradient tree in the
  rules' ascent convention) and :meth:`transform`, the ``(init, update)`` pair of :mod:`lowprec_rbm.rules`
  that turns it into parameter increments (with :meth:`estimator_init` for a rule with estimator state);
- sampling: :meth:`sample` (one network from the posterior; deterministic rules give the deployable one),
  :meth:`moments` (weight means and variances, for rules trained through the probabilistic forward pass);
- deployment: :meth:`deployable` (the most probable / binarised weights) and ``deployable_text``;
- reporting: :meth:`summary` (per-epoch posterior statistics for the history).

Weights of every layer kind (dense (out, in), conv (out, k, k, in)) are handled alike: the learners work
element-wise on arrays of any shape.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["Learner", "LossFn"]

#: ``loss_fn(logits, labels) -> (loss, dloss/dlogits, probabilities, dloss/dlog_scale)``
LossFn = Callable[[np.ndarray, np.ndarray], tuple]


class Learner:
    name: str = ""
    param_name: str = ""
    order: int = 100               # position in RULES (the CLI's choice list)
    defaults: dict[str, Any] = {}
    bayesian = False               # has a posterior to sample from ("mean" predictions)
    pfp = False                    # trained through the probabilistic forward pass ("pfp" predictions)
    running_stats_ok = True        # its training running BN averages describe a deployable network
    supports_prior = False         # warm start with the previous posterior as the prior
    integer = True                 # the deployable weights are integers (exportable)
    deployable_text = ""

    def check(self, hp: dict, activation: str) -> None:
        """ValueError for a hyper-parameter value (or activation) this rule cannot use."""

    def init_params(self, shapes: Sequence[tuple], rng: np.random.Generator, hp: dict) -> list:
        raise NotImplementedError

    def transform(self, schedule, hp: dict, n_train: int, lam0=None):
        """The ``(init, update)`` GradientTransformation applied to :meth:`grads`' output."""
        raise NotImplementedError

    def estimator_init(self, params: list, hp: dict):
        return None

    def grads(self, net, params: list, xb, yb, rng, est_state, running, loss_fn: LossFn, hp: dict,
              n_train: int):
        """One minibatch: ``(loss, probabilities, ascent gradient tree, dloss/dlog_scale, est_state)``."""
        raise NotImplementedError

    def deployable(self, params: list) -> list:
        raise NotImplementedError

    def sample(self, params: list, rng: np.random.Generator) -> list:
        return self.deployable(params)

    def moments(self, params: list):
        raise ValueError(f"rule {self.name!r} is not trained through the probabilistic forward pass")

    def summary(self, params: list, deploy: list, hp: dict) -> dict:
        return {}

    def file_shape(self, shape: tuple) -> tuple:
        return tuple(shape)

    def to_file(self, p: np.ndarray) -> np.ndarray:
        return np.asarray(p, dtype=np.float32)

    def from_file(self, a: np.ndarray) -> np.ndarray:
        return np.asarray(a, dtype=np.float32)
