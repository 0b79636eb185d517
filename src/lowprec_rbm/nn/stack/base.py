"""The layer protocol of :class:`~lowprec_rbm.nn.stack.network.Network` and the values passed between layers.

A layer is an object with five methods; the network calls them in sequence and knows no layer by kind:

``train(x, p) -> (y, cache)``
    Training-mode forward pass (batch statistics, dropout active). ``p`` is the :class:`Pass` of this call:
    the weights the pass sees (``p.weights[i]`` for weighted layer ``i``), the generator for dropout, the
    running BN statistics to update.
``backward(g, cache, p, need_input_grad) -> g_in``
    Gradient w.r.t. the layer's input (None when not needed); a weighted layer stores its weight gradient in
    ``p.grads[index]``.
``eval(x, p) -> y``
    Evaluation mode: fixed BN statistics ``p.stats[index]``, no dropout.
``moments(m, p) -> (m_out, cache)`` and ``moments_backward(g_mu, g_var, cache, p) -> (g_mu_in, g_var_in)``
    The probabilistic forward pass (ternary VI): :class:`Moments` in and out; a weighted layer reads the weight
    means and variances ``p.mu_w[index]``, ``p.var_w[index]`` and stores their gradients in ``p.g_mu_w``,
    ``p.g_var_w``. A layer without a moment rule raises ValueError.

Attributes: ``index`` (the weight/BN index of the block the layer belongs to, or None), ``weight_shape``
(None for layers without weights), ``name`` (for messages).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["Moments", "Pass", "Layer"]


class Moments(NamedTuple):
    """Mean and variance of the units of a probabilistic forward pass.

    ``var`` None and ``pm1`` False: a deterministic input (variance 0). ``pm1`` True: the units are ±1-valued
    (sign outputs, or a max-pool of them), so their variance is ``1 − mu²`` and is not stored: a consumer can
    use that identity (one matrix product fewer) or materialise it with :meth:`variance`.
    """

    mu: np.ndarray
    var: np.ndarray | None
    pm1: bool = False

    def variance(self) -> np.ndarray | None:
        return 1.0 - self.mu * self.mu if self.pm1 else self.var


class Pass:
    """Everything one pass through the network needs besides the activations (see the module docstring)."""

    def __init__(self, weights=None, *, stats=None, running=None, rng: np.random.Generator | None = None,
                 mu_w=None, var_w=None, train: bool = True):
        self.weights = weights
        self.stats = stats
        self.running = running
        self.rng = rng
        self.mu_w = mu_w
        self.var_w = var_w
        self.train = train
        self.recycle = False      # layers may keep consumed buffers for the next step (Network.recycling)
        self.consumed = False     # set by Network.backward: a training pass is backpropagated once
        n = len(weights if weights is not None else (mu_w if mu_w is not None else []))
        self.grads: list[Any] = [None] * n
        self.g_mu_w: list[Any] = [None] * n
        self.g_var_w: list[Any] = [None] * n


class Layer:
    """Base class: no weights, identity-free; subclasses override what they implement."""

    name = "layer"
    index: int | None = None
    weight_shape: tuple | None = None

    def train(self, x, p: Pass):
        raise NotImplementedError

    def backward(self, g, cache, p: Pass, need_input_grad: bool):
        raise NotImplementedError

    def eval(self, x, p: Pass):
        return self.train(x, p)[0]

    def release(self) -> None:
        """Drop buffers kept for reuse between training steps (:meth:`Network.recycling`); none by default."""

    def moments(self, m: Moments, p: Pass):
        raise ValueError(f"{self.name} has no probabilistic forward pass (ternary VI needs sign activations)")

    def moments_backward(self, g_mu, g_var, cache, p: Pass):
        raise ValueError(f"{self.name} has no probabilistic forward pass")

    def __repr__(self) -> str:
        return self.name
