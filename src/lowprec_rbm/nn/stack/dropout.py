"""Inverted dropout: zero each unit with probability ``rate``, scale the rest by ``1/(1 − rate)``.

Moments: the mask multiplies μ by ``m`` and σ² by ``m²`` (a ±1 input loses its ``1 − μ²`` form).
"""
from __future__ import annotations


from lowprec_rbm.nn import layers as L
from lowprec_rbm.nn.stack.base import Layer, Moments, Pass


class Dropout(Layer):
    name = "dropout"

    def __init__(self, rate: float):
        if not 0.0 < float(rate) < 1.0:
            raise ValueError(f"dropout rate must be in (0, 1), got {rate}")
        self.rate = float(rate)

    def _mask(self, x, p: Pass):
        if p.rng is None:
            raise ValueError("dropout needs a random generator")
        return L.dropout_forward(x, self.rate, p.rng)

    def train(self, x, p: Pass):
        return self._mask(x, p)

    def backward(self, g, mask, p: Pass, need_input_grad: bool):
        return L.dropout_backward(g, mask)

    def eval(self, x, p: Pass):
        return x

    def moments(self, m: Moments, p: Pass):
        if not p.train:
            return m, None
        mu, mask = self._mask(m.mu, p)
        var = m.variance()
        return Moments(mu, None if var is None else var * (mask * mask)), mask

    def moments_backward(self, g_mu, g_var, mask, p: Pass):
        if mask is None:
            return g_mu, g_var
        return g_mu * mask, None if g_var is None else g_var * (mask * mask)
