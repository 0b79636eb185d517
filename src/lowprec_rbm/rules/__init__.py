"""Learning rules for Bernoulli posteriors over ±1 weights, as optax-like (init, update) pairs.

Interface (every rule and every piece follows it)
--------------------------------------------------
A rule is a :class:`~lowprec_rbm.rules.base.GradientTransformation` ``(init, update)``::

    state = rule.init(params)
    updates, state = rule.update(grads, state, params)
    params = apply_updates(params, updates)          # params + updates (ASCENT convention)

- ``params``: the natural parameters λ of the posterior (m = tanh λ); an ndarray or a dict/list/tuple of them
  (one per layer).
- ``grads``: same tree; the gradient of the expected log-likelihood **with respect to the mean m**,
  ``g = ∇_m E_q[ln p(D|W)]`` (an unbiased minibatch estimate scaled to the full data set). It excludes the
  prior/KL: each rule adds its prior (``lam0``) itself. Rules that train real "latent" weights (STE, Adam) may
  interpret params/grads as those weights and document it.
- ``updates``: the increment of λ. Learning rates are numbers, arrays or schedules ``step -> rate``
  (:mod:`~lowprec_rbm.rules.schedules`); states are NamedTuples.

Rules here, side by side: :func:`blr` (natural-parameter BLR, no clipping; the RBM), :func:`huang` (clipped
ascent on m, optional Adam; the RBM baseline), :func:`bayesbinn.bayesbinn` (BLR with the Gumbel-softmax
gradient estimate; binary MLPs), :func:`ste.ste` (latent real weights, sign forward, straight-through, Adam,
clip), :func:`adam.adam` (full precision), and :mod:`ternary_vi` (categorical posterior over {-1, 0, +1}, trained with
Adam on its logits through the probabilistic forward pass). Pieces (:mod:`~lowprec_rbm.rules.base`): :func:`chain`, :func:`scale`, :func:`scale_by_learning_rate`,
:func:`trace` (momentum), :func:`scale_by_adam`, :func:`apply_updates`, :func:`tree_map`. Compose, e.g.
``chain(natural_gradient(0.0), trace(0.9), scale_by_learning_rate(cosine_decay(0.2, 100)))``.
"""
from lowprec_rbm.rules.base import (
    GradientTransformation, apply_updates, chain, scale, scale_by_adam, scale_by_learning_rate, trace, tree_map,
)
from lowprec_rbm.rules.blr import blr, natural_gradient
from lowprec_rbm.rules.huang import clipped_mean_step, huang, mean_gradient
# The MLP rules are modules of the same name (``bayesbinn.bayesbinn(...)``, ``ste.ste(...)``, ``adam.adam(...)``)
# holding their helpers (initialisers, gradient estimators) beside the rule.
from lowprec_rbm.rules import adam, bayesbinn, schedules, ste, ternary_vi

__all__ = [
    "GradientTransformation", "apply_updates", "chain", "scale", "scale_by_adam", "scale_by_learning_rate",
    "trace", "tree_map", "blr", "natural_gradient", "huang", "mean_gradient", "clipped_mean_step", "schedules",
    "bayesbinn", "ste", "adam", "ternary_vi",
]
