"""Dense layer without bias, ``a = x Wᵀ`` with W (out, in), and the dense block ``[flatten] [dropout] dense ->
batch norm -> activation`` (no activation on the output block).

Moments (Roth & Pernkopf): independent weights (μ_w, σ²_w) and inputs (μ_x, σ²_x):
``μ_a = μ_x μ_wᵀ``; deterministic input: ``σ²_a = x² σ²_wᵀ``; general: ``σ²_a = μ_x² σ²_wᵀ + σ²_x (μ_w² + σ²_w)ᵀ``;
±1 input (σ²_x = 1 − μ_x²): ``σ²_a = Σ_j E[w²]_j − μ_x² (μ_w²)ᵀ``, one product fewer
(:func:`lowprec_rbm.nn.pfp.dense_moments`).
"""
from __future__ import annotations

import numpy as np

from lowprec_rbm.nn import layers as L
from lowprec_rbm.nn.pfp import dense_moments
from lowprec_rbm.nn.stack.base import Layer, Moments, Pass


class Dense(Layer):
    name = "dense"

    def __init__(self, index: int, shape: tuple[int, int]):
        self.index = index
        self.weight_shape = tuple(int(s) for s in shape)

    def _w(self, p: Pass, dt):
        return p.weights[self.index].astype(dt, copy=False)

    def train(self, x, p: Pass):
        return L.dense_forward(x, self._w(p, x.dtype)), x

    def backward(self, g, x, p: Pass, need_input_grad: bool):
        gx, gw = L.dense_backward(g, x, self._w(p, g.dtype), need_input_grad=need_input_grad)
        p.grads[self.index] = gw
        return gx

    def eval(self, x, p: Pass):
        return L.dense_forward(x, self._w(p, x.dtype))

    def moments(self, m: Moments, p: Pass):
        dt = m.mu.dtype
        mw = p.mu_w[self.index].astype(dt, copy=False)
        vw = p.var_w[self.index].astype(dt, copy=False)
        mu_a, var_a = dense_moments(m.mu, m.var, mw, vw, sign_input=m.pm1)
        return Moments(mu_a, var_a), m

    def moments_backward(self, g_mu_a, g_var_a, m: Moments, p: Pass):
        dt = g_mu_a.dtype
        mw = p.mu_w[self.index].astype(dt, copy=False)
        vw = p.var_w[self.index].astype(dt, copy=False)
        mu_in, var_in = m.mu, m.var
        gm = g_mu_a.T @ mu_in
        if m.pm1:
            # σ²_a = Σ_j (μ_w² + σ²_w)_j − μ_x² (μ_w²)ᵀ with σ²_x eliminated: no gradient w.r.t. σ²_x.
            g_s = g_var_a.sum(axis=0)[:, None]
            gm = gm + 2.0 * mw * (g_s - g_var_a.T @ (mu_in * mu_in))
            gv = np.broadcast_to(g_s, mw.shape).copy()
            g_mu = g_mu_a @ mw - 2.0 * mu_in * (g_var_a @ (mw * mw))
            g_var = None
        elif var_in is None:
            gv = g_var_a.T @ (mu_in * mu_in)
            g_mu = g_var = None          # a deterministic input (the data) needs no gradient
        else:
            gvx = g_var_a.T @ var_in
            gm = gm + 2.0 * mw * gvx
            gv = g_var_a.T @ (mu_in * mu_in) + gvx
            g_mu = g_mu_a @ mw + 2.0 * mu_in * (g_var_a @ vw)
            g_var = g_var_a @ (mw * mw + vw)
        p.g_mu_w[self.index], p.g_var_w[self.index] = gm, gv
        return g_mu, g_var


def block(spec: dict, in_shape: tuple, index: int, opts, last: bool):
    """Layers and output shape of a dense block ``{"kind": "dense", "out": n}`` on inputs of ``in_shape``."""
    from lowprec_rbm.nn.stack.blocks import activation_layer, dropout_layers
    from lowprec_rbm.nn.stack.batchnorm import BatchNorm
    from lowprec_rbm.nn.stack.flatten import Flatten

    layers = []
    if len(in_shape) > 1:
        layers.append(Flatten())
    n_in = int(np.prod(in_shape))
    layers += dropout_layers(opts, index)
    layers += [Dense(index, (spec["out"], n_in)), BatchNorm(index, opts.bn_eps, opts.bn_momentum)]
    if not last:
        layers.append(activation_layer(opts))
    return layers, (spec["out"],)


def weight_shape(spec: dict, in_shape: tuple) -> tuple:
    return (int(spec["out"]), int(np.prod(in_shape)))


def out_shape(spec: dict, in_shape: tuple) -> tuple:
    return (int(spec["out"]),)


def check(spec: dict, where: str) -> None:
    from lowprec_rbm.nn.stack.blocks import check_keys, positive_int

    check_keys(spec, {"kind", "out"}, where)
    positive_int(spec, "out", where)


def token(text: str):
    """``d256`` -> ``{"kind": "dense", "out": 256}`` (None if ``text`` is not a dense token)."""
    if text[:1] != "d" or not text[1:].isdigit():
        return None
    return {"kind": "dense", "out": int(text[1:])}
