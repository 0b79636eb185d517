"""2x2 max-pooling, stride 2 (:mod:`lowprec_rbm.nn.conv`), after the activation.

In a sign network it pools ±1 values, i.e. the OR of four bits, which is what a deployment computes on packed
words. Moment rule (ternary VI): the pooled units must be ±1-valued (a sign layer before), and
``E[max] = 1 − 2 Π_i (1 − m_i)/2`` is exact for independent inputs
(:func:`~lowprec_rbm.nn.conv.maxpool2_pm1_moments`); the output is ±1-valued again. The four units of a window
are computed with the same (random) filter on overlapping patches, so they are not independent: this is the
mean-field approximation the PFP makes everywhere. Measured on a random 3x3 ternary filter (one image, 20000
sampled networks): with the exact sign means of the window, the independence formula is off by +0.01 on
average and by up to 0.14 for single units (positively correlated units make ``max = −1`` likelier than the
product says).
Backward: ``∂E/∂m_i = Π_{j≠i} q_j`` with ``q_j = (1 − m_j)/2``, computed from pairwise products (no division,
so a unit at exactly +1 is fine). Max-pooling of Gaussian (non-±1) moments is refused.
"""
from __future__ import annotations

import numpy as np

from lowprec_rbm.nn import conv as C
from lowprec_rbm.nn.stack.base import Layer, Moments, Pass


class MaxPool2(Layer):
    name = "maxpool2"

    def train(self, x, p: Pass):
        return C.maxpool2_forward(x)

    def backward(self, g, cache, p: Pass, need_input_grad: bool):
        return C.maxpool2_backward(g, cache)

    def eval(self, x, p: Pass):
        return C.maxpool2_forward(x)[0]

    def moments(self, m: Moments, p: Pass):
        if not m.pm1:
            raise ValueError("the probabilistic forward pass pools ±1 units only: put max-pooling after a sign "
                             "activation")
        out = C.maxpool2_pm1_moments(m.mu)
        return Moments(out, None, pm1=True), (m.mu, out)

    def moments_backward(self, g_mu, g_var, cache, p: Pass):
        mu_in, out = cache
        g = g_mu if g_var is None else g_mu - 2.0 * out * g_var    # the output's variance is 1 − out²
        b, h, w, c = mu_in.shape
        q = (1.0 - mu_in.reshape(b, h // 2, 2, w // 2, 2, c)) * 0.5
        q00, q01, q10, q11 = q[:, :, 0, :, 0], q[:, :, 0, :, 1], q[:, :, 1, :, 0], q[:, :, 1, :, 1]
        top, bottom = q00 * q01, q10 * q11
        gin = np.empty_like(q)
        gin[:, :, 0, :, 0] = g * q01 * bottom
        gin[:, :, 0, :, 1] = g * q00 * bottom
        gin[:, :, 1, :, 0] = g * q11 * top
        gin[:, :, 1, :, 1] = g * q10 * top
        return gin.reshape(b, h, w, c), None
