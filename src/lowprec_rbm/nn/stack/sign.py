"""Sign activation with a straight-through (hard-tanh) gradient; its moment rule for ternary VI.

Forward ``sign(z)`` with ``sign(0) = +1`` (bit layout v1); backward passes ``g`` where ``|z| <= window``.

Moments: for ``z ~ N(μ, σ²)``, ``E[sign z] = erf(μ / sqrt(2σ² + ε))`` and the output is ±1-valued, so its
variance is ``1 − mean²`` (:class:`~lowprec_rbm.nn.stack.base.Moments` with ``pm1``). Backward: with
``u = μ / s``, ``s = sqrt(2σ² + ε)``: ``∂u/∂μ = 1/s``, ``∂u/∂σ² = −μ/s³``, ``erf'(u) = 2/√π e^{−u²}``; a gradient
w.r.t. the output variance ``1 − m²`` adds ``−2 m g_var`` to the gradient w.r.t. the mean.
"""
from __future__ import annotations

import numpy as np

from lowprec_rbm.nn import layers as L
from lowprec_rbm.nn import pfp
from lowprec_rbm.nn.stack.base import Layer, Moments, Pass

_TWO_OVER_SQRT_PI = 2.0 / np.sqrt(np.pi)


class Sign(Layer):
    name = "sign"

    def __init__(self, window: float = 1.0):
        self.window = float(window)

    def train(self, x, p: Pass):
        return L.sign_forward(x), x

    def backward(self, g, z, p: Pass, need_input_grad: bool):
        return L.sign_backward(g, z, self.window)

    def eval(self, x, p: Pass):
        return L.sign_forward(x)

    def moments(self, m: Moments, p: Pass):
        dt = m.mu.dtype
        s = np.sqrt(2.0 * m.var + dt.type(pfp.SIGN_EPS))
        u = m.mu / s
        mu_h = pfp.erf(u)       # looked up at call time: the gradient tests swap in an exact erf
        return Moments(mu_h, None, pm1=True), (m.mu, s, u, mu_h)

    def moments_backward(self, g_mu, g_var, cache, p: Pass):
        mu_z, s, u, mu_h = cache
        dt = mu_z.dtype
        g_muh = g_mu if g_var is None else g_mu - 2.0 * mu_h * g_var
        g_u = g_muh * (dt.type(_TWO_OVER_SQRT_PI) * np.exp(-u * u))
        return g_u / s, -g_u * mu_z / (s ** 3)
