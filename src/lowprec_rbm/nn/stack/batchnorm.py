"""Batch norm without affine parameters, per feature (dense) or per channel (conv: statistics over B, H, W).

Training: batch statistics (biased variance), and the running averages ``running <- (1 − momentum) running +
momentum batch`` with the unbiased batch variance (PyTorch's convention). Evaluation: fixed statistics
``p.stats[index]``. A 4-d input (B, H, W, C) is normalised as the (B·H·W, C) matrix it reshapes to.

Moments (ternary VI): for a batch of Gaussians ``a ~ N(μ_a, σ²_a)``, ``m = mean μ_a`` and
``v = mean(σ²_a + (μ_a − m)²)`` (law of total variance), ``μ_z = (μ_a − m) r``, ``σ²_z = σ²_a r²`` with
``r = (v + eps)^(-1/2)``; the running averages track ``(m, v)``. Backward: ``∂r/∂v = −r³/2``; ``Σ (μ_a − m) = 0``
so the path through ``m`` into ``v`` vanishes.
"""
from __future__ import annotations

import numpy as np

from lowprec_rbm.nn import layers as L
from lowprec_rbm.nn.stack.base import Layer, Moments, Pass


def _stats_type():
    from lowprec_rbm.nn.network import BNStats
    return BNStats


class BatchNorm(Layer):
    name = "batchnorm"

    def __init__(self, index: int, eps: float, momentum: float):
        self.index = index
        self.eps = float(eps)
        self.momentum = float(momentum)

    def _update_running(self, p: Pass, mean, var_biased, n: int, unbias: bool) -> None:
        if p.running is None:
            return
        mom = self.momentum
        v = var_biased * (n / max(n - 1, 1)) if unbias else var_biased
        old = p.running[self.index]
        p.running[self.index] = _stats_type()((1 - mom) * old.mean + mom * mean.astype(np.float64),
                                              (1 - mom) * old.var + mom * v.astype(np.float64))

    def train(self, a, p: Pass):
        shape = a.shape
        a2 = a.reshape(-1, shape[-1])
        z, cache, mean, var = L.batchnorm_forward(a2, self.eps)
        self._update_running(p, mean, var, a2.shape[0], unbias=True)
        return z.reshape(shape), cache

    def backward(self, g, cache, p: Pass, need_input_grad: bool):
        return L.batchnorm_backward(g.reshape(-1, g.shape[-1]), cache).reshape(g.shape)

    def eval(self, a, p: Pass):
        st = p.stats[self.index]
        return L.batchnorm_eval(a, st.mean, st.var, self.eps)

    def moments(self, m: Moments, p: Pass):
        mu_a, var_a = m.mu, m.var
        dt = mu_a.dtype
        axes = tuple(range(mu_a.ndim - 1))
        if p.train:
            mean = mu_a.mean(axis=axes)
            c = mu_a - mean
            v = np.mean(var_a + c * c, axis=axes)
            self._update_running(p, mean, v, 0, unbias=False)
        else:
            st = p.stats[self.index]
            c = mu_a - st.mean.astype(dt)
            v = st.var.astype(dt)
        r = 1.0 / np.sqrt(v + dt.type(self.eps))
        return Moments(c * r, var_a * (r * r)), (c, var_a, r)

    def moments_backward(self, g_mu, g_var, cache, p: Pass):
        c, var_a, r = cache
        axes = tuple(range(c.ndim - 1))
        n = c.size // c.shape[-1]
        g_r = np.sum(g_mu * c, axis=axes) + 2.0 * r * np.sum(g_var * var_a, axis=axes)
        g_v = -0.5 * r ** 3 * g_r
        g_var_a = g_var * (r * r) + g_v / n
        g_c = g_mu * r + (2.0 / n) * g_v * c
        return g_c - g_c.mean(axis=axes), g_var_a
