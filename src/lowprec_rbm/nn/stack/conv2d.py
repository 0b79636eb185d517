"""2-d convolution without bias (NHWC, stride 1, odd k, "same" size, a fixed padding value;
:mod:`lowprec_rbm.nn.conv`), and the conv block ``[dropout] conv -> batch norm -> activation [-> 2x2 max-pool]``,
or with ``pool_before_bn`` the published order ``[dropout] conv -> 2x2 max-pool -> batch norm -> activation``
(the batch norm then normalises the pooled fields; deployed as the max of int32 fields before the threshold).

Padding value (issue 12, decided in ``notes/conv_spec.md``): a conv reading ±1 activations pads with +1 (bit 1);
a first conv reading pixels pads with 0 for ``bitplanes``/``real`` input and with +1 for ``binary`` input
(±1 pixels). A ReLU network pads its activations with 0. The block records it as ``pad``.

Moments (ternary VI), with the border a constant ``pad`` (mean ``pad``, variance 0), weights (μ_w, σ²_w):

- deterministic input x: ``μ = conv(x, μ_w)``, ``σ² = conv(x², σ²_w)`` (border ``pad²``);
- ±1 input (``σ²_x = 1 − μ_x²``, and ``pad² = 1``): ``σ² = Σ_{window} E[w²] − conv(μ_x², μ_w²)``: the first term
  is one number per output channel, because E[x²] = 1 everywhere including the border;
- general input: ``σ² = conv(μ_x², σ²_w) + conv(σ²_x, μ_w² + σ²_w)`` (border ``pad²`` and 0).

One im2col of μ_x serves both products (the columns of μ_x² are the squared columns, computed once and kept
for the backward pass). The variance is clamped at 0 against rounding, as in the dense rule; the clamp is not
differentiated (it only acts on rounding noise).
"""
from __future__ import annotations

import numpy as np

from lowprec_rbm.nn import conv as C
from lowprec_rbm.nn.stack.base import Layer, Moments, Pass


def _mm(cols, w):
    """cols (N, K) @ w (O, k, k, C) reshaped -> (N, O)."""
    return cols @ w.reshape(w.shape[0], -1).T


class Conv2d(Layer):
    name = "conv2d"

    def __init__(self, index: int, shape: tuple[int, int, int, int], pad: float):
        self.index = index
        self.weight_shape = tuple(int(s) for s in shape)
        self.pad = float(pad)
        self._spare = None        # the last consumed im2col matrix, while the network recycles buffers

    def _w(self, p: Pass, dt):
        return p.weights[self.index].astype(dt, copy=False)

    def train(self, x, p: Pass):
        cols = None
        if p.recycle and self._spare is not None:
            cols, self._spare = self._spare, None
            if cols.dtype != x.dtype or cols.shape != C.im2col_shape(x.shape, self.weight_shape[1]):
                cols = None       # a smaller last minibatch: allocate afresh
        return C.conv2d_forward(x, self._w(p, x.dtype), self.pad, cols)

    def backward(self, g, cache, p: Pass, need_input_grad: bool):
        gx, gw = C.conv2d_backward(g, cache, self._w(p, g.dtype), need_input_grad=need_input_grad)
        p.grads[self.index] = gw
        if p.recycle and cache.cols.flags.writeable:
            # the cache is consumed (Network.backward refuses to run it again), so its im2col matrix can take
            # the next training step's columns. A read-only one is a view of the input itself (k = 1, or a
            # 1x1 map: the window view was already contiguous), never a buffer of ours to write into.
            self._spare = cache.cols
        return gx

    def release(self) -> None:
        self._spare = None

    def __getstate__(self):
        return {**self.__dict__, "_spare": None}

    def eval(self, x, p: Pass):
        return C.conv2d_forward(x, self._w(p, x.dtype), self.pad)[0]

    def moments(self, m: Moments, p: Pass):
        dt = m.mu.dtype
        mw = p.mu_w[self.index].astype(dt, copy=False)
        vw = p.var_w[self.index].astype(dt, copy=False)
        b, h, w, _ = m.mu.shape
        o = mw.shape[0]
        mean, cache = C.conv2d_forward(m.mu, mw, self.pad)
        # the squared columns serve the variance here and two products of the backward pass: kept in the cache
        sq = C.ConvCache(np.square(cache.cols), cache.shape)
        if m.pm1:
            if self.pad * self.pad != 1.0:
                raise ValueError(f"a conv reading ±1 units must pad with ±1, this one pads with {self.pad}")
            s = (mw * mw + vw).reshape(o, -1).sum(axis=1)
            var = np.maximum(s - _mm(sq.cols, mw * mw), 0)
            extra = None
        elif m.var is None:
            var = _mm(sq.cols, vw)
            extra = None
        else:
            vcache = C.conv2d_forward(m.var, mw * mw + vw, 0.0)[1]
            var = _mm(sq.cols, vw) + _mm(vcache.cols, mw * mw + vw)
            extra = vcache
        return Moments(mean, var.reshape(b, h, w, o)), (m, cache, sq, extra)

    def moments_backward(self, g_mu, g_var, state, p: Pass):
        m, cache, sq, vcache = state
        dt = g_mu.dtype
        mw = p.mu_w[self.index].astype(dt, copy=False)
        vw = p.var_w[self.index].astype(dt, copy=False)
        o = mw.shape[0]
        g_var2 = g_var.reshape(-1, o)
        # conv2d_backward(g, cache, w) returns (input gradient, g^T cols): each weight-gradient product below is
        # computed once, by the call that also needs its input gradient
        if m.pm1:
            # σ² = S_o − conv(μ_x², μ_w²), S_o = Σ (μ_w² + σ²_w)[o]
            gx_mean, gm = C.conv2d_backward(g_mu, cache, mw)              # gm = g_μ^T cols
            gx_sq, g_w2 = C.conv2d_backward(g_var, sq, mw * mw)           # g_w2 = g_σ²^T cols²
            gsum = g_var2.sum(axis=0).reshape(o, 1, 1, 1)
            gm = gm + 2.0 * mw * (gsum - g_w2)
            gv = np.broadcast_to(gsum, mw.shape).copy()
            g_in_mu = gx_mean - 2.0 * m.mu * gx_sq
            g_in_var = None
        elif m.var is None:
            gm = (g_mu.reshape(-1, o).T @ cache.cols).reshape(mw.shape)
            gv = (g_var2.T @ sq.cols).reshape(mw.shape)
            g_in_mu = g_in_var = None        # the data: no gradient needed
        else:
            e2 = mw * mw + vw
            gx_mean, gm = C.conv2d_backward(g_mu, cache, mw)
            g_in_var, g_e2 = C.conv2d_backward(g_var, vcache, e2)         # g_e2 = g_σ²^T cols(σ²_x)
            gx_sq, g_sq = C.conv2d_backward(g_var, sq, vw)                 # g_sq = g_σ²^T cols²
            gm = gm + 2.0 * mw * g_e2
            gv = g_sq + g_e2
            g_in_mu = gx_mean + 2.0 * m.mu * gx_sq
        p.g_mu_w[self.index], p.g_var_w[self.index] = gm, gv
        return g_in_mu, g_in_var


def block(spec: dict, in_shape: tuple, index: int, opts, last: bool):
    """Layers and output shape of a conv block ``{"kind": "conv", "out", "k", "pad", "pool"[, "pool_before_bn"]}``."""
    from lowprec_rbm.nn.stack.batchnorm import BatchNorm
    from lowprec_rbm.nn.stack.blocks import activation_layer, dropout_layers
    from lowprec_rbm.nn.stack.maxpool import MaxPool2

    if last:
        raise ValueError("the last block must be dense (the class scores)")
    layers = dropout_layers(opts, index)
    layers.append(Conv2d(index, weight_shape(spec, in_shape), spec["pad"]))
    if spec.get("pool_before_bn", False):
        layers.append(MaxPool2())
    layers += [BatchNorm(index, opts.bn_eps, opts.bn_momentum), activation_layer(opts)]
    if spec.get("pool", False) and not spec.get("pool_before_bn", False):
        layers.append(MaxPool2())
    return layers, out_shape(spec, in_shape)


def weight_shape(spec: dict, in_shape: tuple) -> tuple:
    if len(in_shape) != 3:
        raise ValueError(f"a conv block needs image inputs (H, W, C), got shape {tuple(in_shape)} (conv blocks "
                         "must come before dense blocks)")
    k = int(spec["k"])
    return (int(spec["out"]), k, k, int(in_shape[2]))


def out_shape(spec: dict, in_shape: tuple) -> tuple:
    h, w, _ = (int(s) for s in in_shape)
    if spec.get("pool", False):
        if h % 2 or w % 2:
            raise ValueError(f"2x2 max-pooling needs an even height and width, the block's input is {h}x{w}")
        h, w = h // 2, w // 2
    return (h, w, int(spec["out"]))


def check(spec: dict, where: str) -> None:
    from lowprec_rbm.nn.stack.blocks import check_keys, positive_int

    check_keys(spec, {"kind", "out", "k", "pad", "pool"} | ({"pool_before_bn"} & set(spec)), where)
    positive_int(spec, "out", where)
    positive_int(spec, "k", where)
    if spec["k"] % 2 == 0:
        raise ValueError(f"{where}: kernel size k must be odd ('same' padding), got {spec['k']}")
    if spec["pad"] not in (-1, 0, 1) or isinstance(spec["pad"], bool):
        raise ValueError(f"{where}: pad must be -1, 0 or +1, got {spec['pad']!r}")
    if not isinstance(spec["pool"], bool):
        raise ValueError(f"{where}: pool must be true or false, got {spec['pool']!r}")
    # pool_before_bn is written only when true (files without it: the pool follows the activation), so one
    # network has one block list
    if "pool_before_bn" in spec and (spec["pool_before_bn"] is not True or not spec["pool"]):
        raise ValueError(f"{where}: pool_before_bn may only be true, on a block with pool true (leave it out "
                         f"otherwise), got pool_before_bn={spec['pool_before_bn']!r} with pool={spec['pool']!r}")


def token(text: str):
    """``c32`` (3x3) or ``c32k5`` -> a conv block spec without ``pad`` (filled in from the input and activation)."""
    if text[:1] != "c":
        return None
    body, _, k = text[1:].partition("k")
    if not body.isdigit() or (k and not k.isdigit()):
        return None
    return {"kind": "conv", "out": int(body), "k": int(k) if k else 3, "pool": False}
