"""The straight-through estimator as a learner: latent real weights ``layer{i}.weight``, forward pass with
``sign(latent)``, Adam on the latents, clipped to ``[−clip, clip]`` (:mod:`lowprec_rbm.rules.ste`)."""
from __future__ import annotations

import numpy as np

from lowprec_rbm.nn.learners.base import Learner
from lowprec_rbm.rules import ste as ste_rule


class STE(Learner):
    name = "ste"
    param_name = "weight"
    order = 1
    defaults = {"lr": 1e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "clip": 1.0}
    deployable_text = "sign(weight), 0 -> +1"

    def init_params(self, shapes, rng, hp):
        return ste_rule.init_latent(shapes, rng)

    def transform(self, schedule, hp, n_train, lam0=None):
        return ste_rule.ste(schedule, float(hp["b1"]), float(hp["b2"]), float(hp["eps"]), float(hp["clip"]))

    def grads(self, net, params, xb, yb, rng, est_state, running, loss_fn, hp, n_train):
        z, cache = net.forward_train(self.deployable(params), xb, rng, running)
        loss, g, probs, g_s = loss_fn(z, yb)
        return loss, probs, [-gw for gw in net.backward(cache, g)], g_s, est_state

    def deployable(self, params):
        return [ste_rule.binarize_latent(w) for w in params]

    def summary(self, params, deploy, hp):
        lat = np.concatenate([w.ravel() for w in params])
        return {"frac_at_clip": float(np.mean(np.abs(lat) >= float(hp["clip"])))}


LEARNER = STE()
