"""Full-precision Adam as a learner: real weights ``layer{i}.weight`` (the reference; not integer, not
exportable)."""
from __future__ import annotations

import numpy as np

from lowprec_rbm.nn.learners.base import Learner
from lowprec_rbm.rules import adam as adam_rule


class Adam(Learner):
    name = "adam"
    param_name = "weight"
    order = 2
    defaults = {"lr": 1e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-8}
    integer = False
    deployable_text = "real weights (not integer)"

    def init_params(self, shapes, rng, hp):
        return adam_rule.glorot_uniform(shapes, rng)

    def transform(self, schedule, hp, n_train, lam0=None):
        return adam_rule.adam(schedule, float(hp["b1"]), float(hp["b2"]), float(hp["eps"]))

    def grads(self, net, params, xb, yb, rng, est_state, running, loss_fn, hp, n_train):
        z, cache = net.forward_train(params, xb, rng, running)
        loss, g, probs, g_s = loss_fn(z, yb)
        return loss, probs, [-gw for gw in net.backward(cache, g)], g_s, est_state

    def deployable(self, params):
        return [w.astype(np.float32) for w in params]


LEARNER = Adam()
