"""BayesBiNN as a learner: Bernoulli posterior over ±1 weights in natural parameters λ
(:mod:`lowprec_rbm.rules.bayesbinn` holds the rule, the sampler and the estimators).

Parameters ``layer{i}.lam`` (shape of the weights); the forward pass sees a relaxed sample ``tanh((λ+δ)/τ)``;
deployable weights ``sign(λ)`` with ``λ >= 0 -> +1``.
"""
from __future__ import annotations

import numpy as np

from lowprec_rbm.nn.learners.base import Learner
from lowprec_rbm.posterior import BernoulliPosterior, signs
from lowprec_rbm.rules import bayesbinn as bb

_LAM_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


class BayesBiNN(Learner):
    name = "bayesbinn"
    param_name = "lam"
    order = 0
    #: ``kl_weight`` r = 1e-3 (a tempered posterior): see :data:`lowprec_rbm.nn.mlp.RULE_DEFAULTS`.
    defaults = {"lr": 0.1, "tau": 1e-10, "lam_init": 1.0, "lam_std": 0.0, "momentum": 0.0,
                "kl_weight": 1e-3, "estimator": "expected", "mc_samples": 1}
    bayesian = True
    supports_prior = True
    deployable_text = "sign(lam), lam >= 0 -> +1"

    def check(self, hp, activation):
        if hp["estimator"] not in bb.ESTIMATORS:
            raise ValueError(f"estimator must be one of {bb.ESTIMATORS}, got {hp['estimator']!r}")
        if not float(hp["tau"]) > 0:
            raise ValueError(f"tau must be > 0, got {hp['tau']}")
        if int(hp["mc_samples"]) < 1:
            raise ValueError(f"mc_samples must be >= 1, got {hp['mc_samples']}")

    def init_params(self, shapes, rng, hp):
        return bb.init_lambda(shapes, rng, float(hp["lam_init"]), float(hp["lam_std"]))

    def transform(self, schedule, hp, n_train, lam0=None):
        return bb.bayesbinn(schedule, lam0=0.0 if lam0 is None else lam0, momentum=float(hp["momentum"]),
                            kl_weight=float(hp["kl_weight"]))

    def estimator_init(self, params, hp):
        return bb.estimator_init(params, hp["estimator"])

    def grads(self, net, params, xb, yb, rng, est_state, running, loss_fn, hp, n_train):
        grads, samples, logits_all = [], [], []
        loss, probs = 0.0, None
        m = int(hp["mc_samples"])
        keep = hp["estimator"] == "relaxed"
        g_s = 0.0
        for k in range(m):
            ws, lg = bb.relaxed_sample(params, rng, float(hp["tau"]), keep_logits=keep)
            z, cache = net.forward_train(ws, xb, rng, running if k == 0 else None)
            lk, g, pk, gs = loss_fn(z, yb)
            g_s += gs / m
            grads.append(net.backward(cache, g))
            samples.append(ws)
            logits_all.append(lg)
            loss += lk / m
            probs = pk if probs is None else probs + pk
        asc, est_state = bb.mean_gradient(grads, samples, params, est_state, tau=float(hp["tau"]),
                                          n_data=n_train, estimator=hp["estimator"],
                                          logits=logits_all if keep else None)
        return loss, probs, asc, g_s, est_state

    def deployable(self, params):
        return [signs(l) for l in params]

    def sample(self, params, rng):
        # w = +1 with probability sigmoid(2λ) = (1 + tanh λ)/2.
        return [np.where(rng.random(l.shape, dtype=np.float32) < (1 + np.tanh(l)) / 2,
                         np.float32(1), np.float32(-1)) for l in params]

    def summary(self, params, deploy, hp):
        lam = np.concatenate([l.ravel() for l in params]).astype(np.float64)
        a = np.abs(lam)
        q = np.quantile(a, _LAM_QUANTILES)
        post = BernoulliPosterior(lam)
        return {"abs_lam_quantiles": {f"q{int(p * 100):02d}": float(v) for p, v in zip(_LAM_QUANTILES, q)},
                "abs_lam_max": float(a.max()),
                "entropy_nats": float(np.mean(post.entropy())),
                "mean_flip_prob": float(np.mean(post.flip_prob())),
                "frac_uncertain": float(np.mean(a < 1.0))}   # flip probability above sigmoid(-2) = 0.12


LEARNER = BayesBiNN()
