"""The straight-through (STE) baseline as a ``torch.optim.Optimizer``: Adam on the latent weights of the
``rule="ste"`` binary layers, then clipping to ``[−clip, clip]`` (:mod:`lowprec_rbm.rules.ste`, same defaults).

The forward pass of those layers uses ``sign(weight)`` and passes the gradient straight through
(:class:`~lowprec_rbm.pytorch.BinaryLinear`). The update, in the NumPy rule's order (float32)::

    m <- b1 m + (1 − b1) g ;  v <- b2 v + (1 − b2) g² ;  u = (m / (1 − b1^t)) / (sqrt(v / (1 − b2^t)) + eps)
    w <- clip(w − lr u, −clip, clip)
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from lowprec_rbm.nn.learners.ste import LEARNER as _NUMPY_LEARNER
from lowprec_rbm.pytorch.layers import binary_layers

__all__ = ["STE", "DEFAULTS"]

DEFAULTS = dict(_NUMPY_LEARNER.defaults)


class STE(torch.optim.Optimizer):
    """Adam + clipping on the latent weights of every ``rule="ste"`` binary layer of ``model``."""

    def __init__(self, model: nn.Module, lr: float = DEFAULTS["lr"], b1: float = DEFAULTS["b1"],
                 b2: float = DEFAULTS["b2"], eps: float = DEFAULTS["eps"], clip: float = DEFAULTS["clip"]):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        layers = [m for m in binary_layers(model) if m.rule == "ste"]
        if not layers:
            raise ValueError("model has no binary layer with rule='ste' (BinaryLinear / BinaryConv2d)")
        for name, b in (("b1", b1), ("b2", b2)):
            if not 0.0 <= float(b) < 1.0:
                raise ValueError(f"Adam {name} must be in [0, 1), got {b}")
        if not float(eps) > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        if not float(clip) > 0:
            raise ValueError(f"clip must be > 0, got {clip}")
        if not (np.isfinite(lr) and lr >= 0):
            raise ValueError(f"lr must be finite and >= 0, got {lr}")
        super().__init__([m.weight for m in layers],
                         dict(lr=float(lr), b1=float(b1), b2=float(b2), eps=float(eps), clip=float(clip)))

    def hyperparameters(self) -> dict:
        g = self.param_groups[0]
        return {"lr": g.get("initial_lr", g["lr"]), **{k: g[k] for k in ("b1", "b2", "eps", "clip")}}

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for g in self.param_groups:
            b1, b2, eps, lr, clip = g["b1"], g["b2"], g["eps"], g["lr"], g["clip"]
            for p in g["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["step"], st["m"], st["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                st["step"] += 1
                t = st["step"]
                grad = p.grad
                st["m"] = st["m"] * b1 + grad * (1 - b1)
                st["v"] = st["v"] * b2 + grad * (1 - b2) * grad
                u = (st["m"] / (1 - b1 ** t)) / (torch.sqrt(st["v"] / (1 - b2 ** t)) + eps) * -lr
                # p + (clip(p + u) − p), not clip(p + u): the NumPy rule's clip_params, rounding included.
                p.add_(torch.clamp(p + u, -clip, clip) - p)
        return loss
