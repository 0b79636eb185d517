"""ReLU activation (full-precision and binary-weight ReLU networks; not exportable, no moment rule)."""
from __future__ import annotations

from lowprec_rbm.nn import layers as L
from lowprec_rbm.nn.stack.base import Layer, Pass


class ReLU(Layer):
    name = "relu"

    def train(self, x, p: Pass):
        return L.relu_forward(x), x

    def backward(self, g, z, p: Pass, need_input_grad: bool):
        return L.relu_backward(g, z)

    def eval(self, x, p: Pass):
        return L.relu_forward(x)
