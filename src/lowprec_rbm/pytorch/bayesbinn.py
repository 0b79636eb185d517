"""BayesBiNN / the Bayesian learning rule for ±1 weights as a ``torch.optim.Optimizer``.

The update is :mod:`lowprec_rbm.rules.bayesbinn` (the NumPy reference, same defaults), op for op in float32::

    ε ~ U(0, 1),  δ = ½ log(ε / (1 − ε)),  w_r = tanh((λ + δ) / τ)      relaxed sample, put into ``weight``
    g   = ∇_w loss at w = w_r                                             the closure's forward/backward
    ĝ   = −(N / M) Σ_m s_m ⊙ g_m                                          s: the scale estimator
    d   = ĝ + r (λ0 − λ)                                                  r = kl_weight, λ0 the prior
    v  <- β v + (1 − β) d ;   λ <- λ + α v / (1 − β^t)                    (β = 0: λ <- λ + α d)

``estimator``: ``"expected"`` (default, ``s = 1``), ``"published"`` (the published code's float32 ratio with
its 1e-10 guards and one-step lag of μ) or ``"relaxed"`` (the ratio computed stably for a finite τ); the
NumPy module's docstring derives them. After a step ``weight`` holds the MAP network ``sign(λ)`` (0 -> +1), so
``model.eval()`` runs the deployable network.

Noise and distributed training. The ε of step ``t`` (0, 1, ... counted by this optimizer) come from
``numpy.random.default_rng([seed, t])``, drawn layer by layer in :func:`~lowprec_rbm.pytorch.binary_layers`
order, M times for M samples (:func:`step_noise`). They depend on the user's seed and the step only, not on
the rank: under ``DistributedDataParallel`` λ is replicated, every rank draws the same ε and so runs the same
sampled network on its shard of the batch, DDP averages the gradients, and every rank applies the same update:
the posterior is the one a single process computes on the global batch (with :class:`BatchNorm` statistics
summed over the ranks). Resuming from ``state_dict`` continues the same noise sequence.

Other parameters (a real-valued layer, if any) take any other optimizer; the closure's last backward leaves
their gradients in place.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from lowprec_rbm.nn.learners.bayesbinn import LEARNER as _NUMPY_LEARNER
from lowprec_rbm.rules.bayesbinn import ESTIMATORS
from lowprec_rbm.pytorch.layers import _signs, binary_layers

__all__ = ["BayesBiNN", "step_noise", "DEFAULTS"]

#: The NumPy learner's defaults (:class:`lowprec_rbm.nn.learners.bayesbinn.BayesBiNN`).
DEFAULTS = dict(_NUMPY_LEARNER.defaults)
_GUARD = 1e-10
_MAX_LOG_SCALE = 60.0


def step_noise(shapes: Sequence[tuple], seed: int, step: int, samples: int = 1) -> list[list[np.ndarray]]:
    """The float32 U(0, 1) noise of step ``step``: ``samples`` lists of one array per shape, from
    ``numpy.random.default_rng([seed, step])`` in order (the same on every rank)."""
    rng = np.random.default_rng([int(seed), int(step)])
    return [[rng.random(tuple(s), dtype=np.float32) for s in shapes] for _ in range(int(samples))]


def _log2cosh(x: torch.Tensor) -> torch.Tensor:
    """``|x| + log(1 + exp(−2|x|))`` as :func:`lowprec_rbm.vecmath.log2cosh`."""
    ax = x.abs()
    return torch.log(torch.exp(ax * -2) + 1) + ax


class BayesBiNN(torch.optim.Optimizer):
    """The BayesBiNN update of every binary layer (``rule="bayesbinn"``) of ``model``.

    Parameters
    ----------
    model : torch.nn.Module
        The network (or its DistributedDataParallel wrapper); its :class:`~lowprec_rbm.pytorch.BinaryLinear` /
        :class:`~lowprec_rbm.pytorch.BinaryConv2d` layers with ``rule="bayesbinn"`` are the ones updated.
    n_data : int
        N, the size of the training set (over all ranks): the batch-mean loss gradient is multiplied by N.
    lr : float
        α (0.1, the NumPy rule's default); ``torch.optim.lr_scheduler`` schedules act on it.
    tau, estimator, momentum, kl_weight, mc_samples :
        τ, the scale estimator, β, r and M, with the NumPy learner's defaults (1e-10, "expected", 0, 1e-3, 1).
    prior : None or sequence of tensors
        λ0 per binary layer (a previous posterior, for continual learning); None is the uniform prior λ0 = 0.
    seed : int
        Seeds the relaxation noise (see the module docstring).
    """

    def __init__(self, model: nn.Module, n_data: int, lr: float = DEFAULTS["lr"], tau: float = DEFAULTS["tau"],
                 estimator: str = DEFAULTS["estimator"], momentum: float = DEFAULTS["momentum"],
                 kl_weight: float = DEFAULTS["kl_weight"], mc_samples: int = DEFAULTS["mc_samples"],
                 prior: Sequence[torch.Tensor] | None = None, seed: int = 0):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        layers = [m for m in binary_layers(model) if m.rule == "bayesbinn"]
        if not layers:
            raise ValueError("model has no binary layer with rule='bayesbinn' (BinaryLinear / BinaryConv2d)")
        if isinstance(n_data, bool) or not isinstance(n_data, (int, np.integer)) or n_data < 1:
            raise ValueError(f"n_data must be a positive int (the training set size), got {n_data!r}")
        if not (np.isfinite(lr) and lr >= 0):
            raise ValueError(f"lr must be finite and >= 0, got {lr}")
        if not (np.isfinite(tau) and tau > 0):
            raise ValueError(f"tau must be finite and > 0, got {tau}")
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if not (np.isfinite(kl_weight) and kl_weight >= 0):
            raise ValueError(f"kl_weight must be finite and >= 0, got {kl_weight}")
        if isinstance(mc_samples, bool) or not isinstance(mc_samples, (int, np.integer)) or mc_samples < 1:
            raise ValueError(f"mc_samples must be an int >= 1, got {mc_samples!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        if prior is not None:
            prior = list(prior)
            if len(prior) != len(layers):
                raise ValueError(f"prior must hold one λ0 per binary layer ({len(layers)}), got {len(prior)}")
            for i, (p0, m) in enumerate(zip(prior, layers)):
                if tuple(p0.shape) != tuple(m.lam.shape):
                    raise ValueError(f"prior[{i}] has shape {tuple(p0.shape)}, layer {i} has {tuple(m.lam.shape)}")
        defaults = dict(lr=float(lr), tau=float(tau), estimator=estimator, momentum=float(momentum),
                        kl_weight=float(kl_weight), mc_samples=int(mc_samples), n_data=int(n_data))
        super().__init__([m.weight for m in layers], defaults)
        self._layers = layers
        self.seed = int(seed)
        for i, m in enumerate(layers):
            st = self.state[m.weight]
            if prior is not None:
                st["lam0"] = prior[i].detach().to(torch.float32).clone()
            if estimator == "published":
                st["mu"] = torch.tanh(m.lam.to(torch.float32))
        self.param_groups[0]["steps"] = 0       # in the group, so state_dict() carries it

    @property
    def steps(self) -> int:
        """Updates done so far (the noise of the next one is ``step_noise(..., step=steps)``)."""
        return int(self.param_groups[0]["steps"])

    def hyperparameters(self) -> dict:
        """The rule's hyper-parameters as the posterior file records them (``rule_params``)."""
        g = self.param_groups[0]
        # a torch LR scheduler keeps the starting rate in "initial_lr"; "lr" may have decayed to 0 by the end
        return {"lr": g.get("initial_lr", g["lr"]), "tau": g["tau"], "momentum": g["momentum"],
                "kl_weight": g["kl_weight"], "estimator": g["estimator"], "mc_samples": g["mc_samples"]}

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None,
             noise: Sequence[Sequence[np.ndarray]] | None = None) -> torch.Tensor:
        """One update. ``closure`` (required) zeroes the gradients, runs forward and backward on the current
        weights and returns the loss; it is called ``mc_samples`` times, once per sample. ``noise`` overrides
        the drawn U(0, 1) noise (``mc_samples`` lists of one float32 array per binary layer), e.g. to compare
        with the NumPy rule on the same draws. Returns the mean loss over the samples."""
        if closure is None:
            raise ValueError("BayesBiNN.step needs a closure: the gradient is taken at the sampled weights")
        g = self.param_groups[0]
        tau, m_samples, est = g["tau"], g["mc_samples"], g["estimator"]
        layers = self._layers
        lams = [m.lam for m in layers]
        own = noise is None      # drawn here: the arrays may be overwritten in place, the caller's may not
        if own:
            noise = step_noise([tuple(l.shape) for l in lams], self.seed, self.steps, m_samples)
        if len(noise) != m_samples or any(len(n) != len(lams) for n in noise):
            raise ValueError(f"noise must hold {m_samples} list(s) of {len(lams)} arrays (one per binary layer)")
        acc = [torch.zeros_like(l, dtype=torch.float32) if est != "expected" or m_samples > 1 else None
               for l in lams]
        total = None
        for k in range(m_samples):
            logits = []
            for m, lam, eps in zip(layers, lams, noise[k]):
                e = np.asarray(eps, dtype=np.float32)
                e = torch.as_tensor(e if own else e.copy(), device=lam.device)
                if tuple(e.shape) != tuple(lam.shape):
                    raise ValueError(f"noise array of shape {tuple(e.shape)} for λ of shape {tuple(lam.shape)}")
                # x = (½ log(ε / (1 − ε)) + λ) / τ, in place, in the NumPy sampler's order.
                x = e.div_(1.0 - e).log_().mul_(0.5).add_(lam).div_(tau)
                if est == "relaxed":
                    logits.append(x.clone())
                m.weight.copy_(x.tanh_())
            with torch.enable_grad():
                loss = closure()
            total = loss.detach() if total is None else total + loss.detach()
            for i, (m, lam) in enumerate(zip(layers, lams)):
                grad = m.weight.grad
                if grad is None:
                    raise RuntimeError(f"binary layer {i} got no gradient: the closure must call backward()")
                grad = grad.to(torch.float32)
                if est == "expected" and m_samples == 1:
                    acc[i] = grad.clone()
                elif est == "expected":
                    acc[i] += grad
                elif est == "published":
                    w = m.weight.to(torch.float32)
                    mu = self.state[m.weight]["mu"]
                    s = (1.0 - w * w + _GUARD) / tau / (1.0 - mu * mu + _GUARD)
                    acc[i] += s * grad
                else:
                    expo = torch.clamp((_log2cosh(lam) - _log2cosh(logits[i])) * 2.0, max=_MAX_LOG_SCALE)
                    acc[i] += (torch.exp(expo) / tau) * grad
        factor = -float(g["n_data"]) / m_samples
        beta, r, lr = g["momentum"], g["kl_weight"], g["lr"]
        t = self.steps + 1
        for i, (m, lam) in enumerate(zip(layers, lams)):
            st = self.state[m.weight]
            d = acc[i].mul_(factor)                     # ĝ
            lam0 = st.get("lam0")
            d += ((lam0 - lam) if lam0 is not None else torch.neg(lam)).mul_(r)
            if beta > 0:
                v = st.get("v")
                v = torch.zeros_like(d) if v is None else v
                # β and 1 − β as the NumPy rule rounds them: float32(β), float32(1) − float32(β).
                b32 = np.float32(beta)
                v = v * float(b32) + d * float(np.float32(1) - b32)
                st["v"] = v
                d = v / (1.0 - beta ** t)
            if est == "published":
                st["mu"] = torch.tanh(lam)          # μ <- tanh(λ before this update): the published lag
            lam += d.mul_(lr)
            m.weight.copy_(_signs(lam))
        g["steps"] = t
        return total / m_samples
