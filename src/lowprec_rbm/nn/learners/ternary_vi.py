"""Ternary variational inference as a learner: categorical posterior over {−1, 0, +1} per weight, trained
with Adam on its logits through the probabilistic forward pass (:mod:`lowprec_rbm.rules.ternary_vi`).

Parameters in training: logit planes (3, *weight shape); in the file ``layer{i}.logits`` (*weight shape, 3).
Deployable weights: the most probable value (ties 0, +1, −1).
"""
from __future__ import annotations

import numpy as np

from lowprec_rbm.nn.learners.base import Learner
from lowprec_rbm.rules import ternary_vi as tvi


class TernaryVI(Learner):
    name = "ternary-vi"
    param_name = "logits"
    order = 3
    #: ``kl_weight`` 0.01: at 1 the prior p(0) = 0.5 wins for nearly every weight (see RULE_DEFAULTS).
    defaults = {"lr": 1e-2, "p_zero": 0.5, "kl_weight": 0.01, "logit_bound": 5.0, "init_scale": 2.0,
                "b1": 0.9, "b2": 0.999, "eps": 1e-8}
    bayesian = True
    pfp = True
    running_stats_ok = False        # its running averages are PFP moment statistics
    deployable_text = "argmax of logits over (-1, 0, +1)"

    def check(self, hp, activation):
        if activation != "sign":
            raise ValueError("rule 'ternary-vi' uses the probabilistic forward pass through sign activations: "
                             f"use activation='sign' (got {activation!r})")
        if not 0.0 < float(hp["p_zero"]) < 1.0:
            raise ValueError(f"p_zero must be in (0, 1), got {hp['p_zero']}")

    def init_params(self, shapes, rng, hp):
        return tvi.init_logits(shapes, rng, float(hp["init_scale"]))

    def transform(self, schedule, hp, n_train, lam0=None):
        return tvi.ternary_vi(schedule, float(hp["p_zero"]), float(hp["kl_weight"]) / n_train,
                              float(hp["b1"]), float(hp["b2"]), float(hp["eps"]),
                              None if hp["logit_bound"] is None else float(hp["logit_bound"]))

    def grads(self, net, params, xb, yb, rng, est_state, running, loss_fn, hp, n_train):
        # moments -> PFP -> Gaussian logits -> one reparameterised draw -> CE.
        qs, mus, vars_ = zip(*(tvi.moments(rho) for rho in params))
        mu_z, var_z, cache = net.pfp_forward(mus, vars_, xb, rng, running, train=True)
        sd = np.sqrt(var_z + np.float32(1e-8))
        e = rng.standard_normal(mu_z.shape, dtype=np.float32)
        loss, g, probs, g_s = loss_fn(mu_z + sd * e, yb)
        # z = μ + sqrt(σ² + 1e-8) ε: ∂z/∂μ = 1, ∂z/∂σ² = ε / (2 sqrt(σ² + 1e-8)).
        g_mw, g_vw = net.pfp_backward(cache, g, g * e / (2 * sd))
        asc = [-tvi.moments_backward(q, mu, gm, gv) for q, mu, gm, gv in zip(qs, mus, g_mw, g_vw)]
        return loss, probs, asc, g_s, est_state

    def deployable(self, params):
        return [tvi.most_probable(r).astype(np.float32) for r in params]

    def sample(self, params, rng):
        return [tvi.sample(r, rng).astype(np.float32) for r in params]

    def moments(self, params):
        _, mus, vars_ = zip(*(tvi.moments(r) for r in params))
        return list(mus), list(vars_)

    def summary(self, params, deploy, hp):
        ent = np.concatenate([tvi.entropy(r).ravel() for r in params]).astype(np.float64)
        zeros = sum(int(np.sum(w == 0)) for w in deploy)
        total = sum(w.size for w in deploy)
        return {"entropy_nats": float(np.mean(ent)), "sparsity": zeros / total,
                "sparsity_per_layer": [float(np.mean(w == 0)) for w in deploy],
                "kl_nats": float(sum(tvi.kl(r, float(hp["p_zero"])) for r in params))}

    def file_shape(self, shape):
        return tuple(shape) + (3,)

    def to_file(self, p):
        return np.asarray(tvi.to_file_layout(p), dtype=np.float32)

    def from_file(self, a):
        return tvi.from_file_layout(np.asarray(a, dtype=np.float32))


LEARNER = TernaryVI()
