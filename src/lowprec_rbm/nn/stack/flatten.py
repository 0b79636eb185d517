"""Flatten (B, H, W, C) -> (B, H*W*C) in (row, column, channel) order (:func:`lowprec_rbm.nn.conv.flatten_forward`)."""
from __future__ import annotations

from lowprec_rbm.nn import conv as C
from lowprec_rbm.nn.stack.base import Layer, Moments, Pass


class Flatten(Layer):
    name = "flatten"

    def train(self, x, p: Pass):
        return C.flatten_forward(x)

    def backward(self, g, shape, p: Pass, need_input_grad: bool):
        return C.flatten_backward(g, shape)

    def eval(self, x, p: Pass):
        return C.flatten_forward(x)[0]

    def moments(self, m: Moments, p: Pass):
        b = m.mu.shape[0]
        return Moments(m.mu.reshape(b, -1), None if m.var is None else m.var.reshape(b, -1), m.pm1), m.mu.shape

    def moments_backward(self, g_mu, g_var, shape, p: Pass):
        return g_mu.reshape(shape), None if g_var is None else g_var.reshape(shape)
