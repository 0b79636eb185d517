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
        s = np.multiply(m.var, 2.0)                 # s = sqrt(2σ² + ε), in place
        s += dt.type(pfp.SIGN_EPS)
        np.sqrt(s, out=s)
        u = m.mu / s
        mu_h = pfp.erf(u)       # looked up at call time: the gradient tests swap in an exact erf
        return Moments(mu_h, None, pm1=True), (m.mu, s, u, mu_h)

    def moments_backward(self, g_mu, g_var, cache, p: Pass):
        mu_z, s, u, mu_h = cache
        dt = mu_z.dtype
        # g_u = g_muh · 2/√π · exp(−u²), with g_muh = g_mu − 2 μ_h g_var, in place on one buffer
        g_u = np.multiply(u, u)
        np.negative(g_u, out=g_u)
        np.exp(g_u, out=g_u)
        g_u *= dt.type(_TWO_OVER_SQRT_PI)
        if g_var is None:
            g_u *= g_mu
        else:
            g_muh = np.multiply(mu_h, 2.0)
            g_muh *= g_var
            np.subtract(g_mu, g_muh, out=g_muh)
            g_u *= g_muh
        g_in_mu = g_u / s
        np.negative(g_u, out=g_u)                   # ∂/∂σ² = −g_u μ / s³
        g_u *= mu_z
        s3 = np.multiply(s, s)                      # s³ as (s·s)·s: float32 pow has no vector loop (12× slower)
        s3 *= s
        g_u /= s3
        return g_in_mu, g_u
