"""The float ±1 computation of a network: ground truth before any packing.

Plain numpy matrix products of ±1 (or ternary) float64 weights with ±1 (or pixel) float64 activations,
straight from the neutral network description (``export.network``). No bit packing, no popcount, no
lookup-table indexing: a second, independent derivation of every integer the exported graph produces.
Sums of at most 255·K integer terms are exact in float64 (< 2^53), so the results are exact integers.

Names follow the graph outputs of docs/ops.md (``export.onnx.names``); packed outputs are returned packed
(bit layout v1), so a comparison also checks that pad bits are zero.
"""
from __future__ import annotations

import numpy as np

from export.layout import pack_pm1
from export.network import CNNNetwork, MLPNetwork, RBMNetwork, rbm_hidden_argument, rbm_probability
from export.prng import probability_to_threshold, uniform_u32

__all__ = ["float_forward", "first_layer_operand", "real_check", "conv_same", "maxpool2"]


def first_layer_operand(net, x: np.ndarray) -> np.ndarray:
    """Raw input (B, K) -> float64 operand of the first layer: ±1, or pixel values for bit-plane input."""
    spec = net.input
    x = np.asarray(x)
    if spec.kind == "pm1":
        return x.astype(np.float64)
    if spec.kind == "threshold":
        # The float32 threshold as the graph stores it; uint8/float32 inputs are exact in float64.
        return np.where(x.astype(np.float64) >= float(np.float32(spec.threshold)), 1.0, -1.0)
    return x.astype(np.float64)  # bit-planes: Σ_k pixel_k w_k directly


def _pm1(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, 1.0, -1.0)


def _int32(y: np.ndarray) -> np.ndarray:
    r = np.rint(y)
    assert np.array_equal(r, y), "float ±1 products must be integers"
    return r.astype(np.int32)


def _int64(y: np.ndarray) -> np.ndarray:
    # Class scores: |scale y| and |scale y + offset| are <= 2^53 (export.network.SCORE_LIMIT), so every
    # float64 product and sum here is an exact integer.
    r = np.rint(y)
    assert np.array_equal(r, y) and np.all(np.abs(r) <= 2.0**53), "class scores must be exact integers"
    return r.astype(np.int64)


def _mlp(net: MLPNetwork, x: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    h = first_layer_operand(net, x)
    if net.input.kind != "bitplanes":
        out["xp"] = pack_pm1(h)
    return _dense_tail(net, h, 0, out)


def _dense_tail(net, h: np.ndarray, first: int, out: dict) -> dict[str, np.ndarray]:
    """Hidden dense layers (numbered from ``first``) and the output layer of an MLP or a CNN, into ``out``."""
    for j, (dense, thr) in enumerate(net.hidden, start=first):
        y = h @ dense.weight.astype(np.float64).T
        out[f"y{j}"] = _int32(y)
        bit = thr.s.astype(np.float64) * y >= thr.t.astype(np.float64)
        out[f"h{j}"] = pack_pm1(bit)
        h = _pm1(bit)
    dense, aff = net.output
    y = h @ dense.weight.astype(np.float64).T
    out[f"y{first + len(net.hidden)}"] = _int32(y)
    scores = aff.scale.astype(np.float64) * y + aff.offset.astype(np.float64)
    out["scores"] = _int64(scores)
    out["label"] = np.argmax(scores, axis=1).astype(np.int64)  # first maximum
    return out


def conv_same(x: np.ndarray, w: np.ndarray, pad: float) -> np.ndarray:
    """float64 (B, H, W, C) * (O, k, k, C) -> (B, H, W, O): Σ over the k x k window and C channels, "same" size,
    stride 1, every position outside the image reading ``pad``. A direct sum over the k·k kernel offsets (each a
    matrix product of a shifted image with one (C, O) weight slice), written independently of the exported
    kernels' patch gathering."""
    b, h, wd, c = x.shape
    k = w.shape[1]
    r = k // 2
    xp = np.full((b, h + 2 * r, wd + 2 * r, c), float(pad))
    xp[:, r:r + h, r:r + wd, :] = x
    y = np.zeros((b, h, wd, w.shape[0]))
    for di in range(k):
        for dj in range(k):
            y += xp[:, di:di + h, dj:dj + wd, :] @ w[:, di, dj, :].astype(np.float64).T
    return y


def maxpool2(x: np.ndarray) -> np.ndarray:
    """2x2 max-pool (even H, W) of (B, H, W, C) values."""
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def pack_pixels(values: np.ndarray) -> np.ndarray:
    """±1 (or bool) (B, H, W, C) -> per-pixel packed words (B, H, W, ceil(C/64)) (bit layout v1)."""
    return pack_pm1(values)


def _cnn_layers(net: CNNNetwork, x: np.ndarray, bn=None):
    """Run the conv blocks; yields per layer (name -> value) and returns the ±1 flattened activations.
    ``bn``: per-layer functions y -> bool bit (default: the folded integer thresholds)."""
    h_, w_, c_ = net.image_shape
    spec = net.input
    flat = first_layer_operand(net, x)
    a = flat.reshape(-1, h_, w_, c_)
    out = {}
    if spec.kind != "bitplanes":
        out["xp"] = pack_pixels(a)
    for i, (conv, thr, pool) in enumerate(net.features):
        y = conv_same(a, conv.weight, conv.pad)
        out[f"y{i}"] = _int32(y)
        if pool == "fields":      # conv -> max-pool -> threshold: the threshold reads the pooled field
            y = maxpool2(y)
            out[f"m{i}"] = _int32(y)
        if bn is None:
            bit = thr.s.astype(np.float64) * y >= thr.t.astype(np.float64)
        else:
            bit = bn(i, y)
        out[f"h{i}"] = pack_pixels(bit)
        a = _pm1(bit)
        if pool == "bits":
            a = maxpool2(a)
            out[f"p{i}"] = pack_pixels(a > 0)
    out["flat"] = pack_pm1(a.reshape(a.shape[0], -1))
    return out, a.reshape(a.shape[0], -1)


def _cnn(net: CNNNetwork, x: np.ndarray) -> dict[str, np.ndarray]:
    out, h = _cnn_layers(net, x)
    return _dense_tail(net, h, len(net.features), out)


def _prob(net: RBMNetwork, field: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    # P(+1 | field) = sigmoid(2β(f/√N + bias)) = (1 + tanh(β(f/√N + bias)))/2, evaluated in float64 by the one
    # function export.network.rbm_tables uses, so the float32 values are identical. A side without fields has
    # bias None (the fieldless order of operations, as its shared table).
    return rbm_probability(net.beta, net.n_visible, field, bias)


def _rbm(net: RBMNetwork, v: np.ndarray, seeds: np.ndarray | None) -> dict[str, np.ndarray]:
    xi = net.weight.astype(np.float64)
    n, p = net.weight.shape
    out = {}
    sigma = first_layer_operand(net, v)
    out["vp"] = pack_pm1(sigma)
    x_field = sigma @ xi
    out["hidden_field"] = _int32(x_field)
    # MAP bit: β X/√N + β c >= 0 in float64, the real-valued definition (the artifact compares X with the
    # folded integer thresholds; this checks the fold).
    h = (rbm_hidden_argument(net.beta, n, x_field, net.hidden_field) >= 0) if net.hidden_field is not None \
        else x_field >= 0
    out["hidden_bits"] = pack_pm1(h)
    out["hidden_prob"] = _prob(net, x_field, net.hidden_field).astype(np.float32)
    out["visible_field"] = _int32(_pm1(h) @ xi.T)
    if net.gibbs_steps and seeds is None:
        raise ValueError("a Gibbs-sampling RBM needs per-row seeds")
    for t in range(net.gibbs_steps):
        if t:
            x_field = sigma @ xi
            out[f"gibbs_hfield_{t}"] = _int32(x_field)
        # hidden draw: +1 iff u < floor(P(+1 | X) 2^32) (clipped to 2^32 - 1), u from stream 2t
        thr = probability_to_threshold(_prob(net, x_field, net.hidden_field))
        out[f"gibbs_hthr_{t}"] = thr
        hb = uniform_u32(seeds, 2 * t, p) < thr
        out[f"gibbs_h_{t}"] = pack_pm1(hb)
        y_field = _pm1(hb) @ xi.T
        out[f"gibbs_vfield_{t}"] = _int32(y_field)
        thr = probability_to_threshold(_prob(net, y_field, net.visible_field))
        out[f"gibbs_vthr_{t}"] = thr
        vb = uniform_u32(seeds, 2 * t + 1, n) < thr
        out[f"gibbs_v_{t + 1}"] = pack_pm1(vb)
        sigma = _pm1(vb)
    return out


def float_forward(net, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every graph output of ``net`` on ``feeds`` by float ±1 products (see the module docstring).

    ``feeds`` holds the raw input under any name (the first non-``seeds`` entry) and, for a Gibbs RBM,
    ``seeds`` (uint32 (B,)).
    """
    seeds = feeds.get("seeds")
    xs = [v for k, v in feeds.items() if k != "seeds"]
    if len(xs) != 1:
        raise ValueError(f"expected one data input (plus 'seeds'), got inputs {sorted(feeds)}")
    if isinstance(net, MLPNetwork):
        return _mlp(net, xs[0])
    if isinstance(net, CNNNetwork):
        return _cnn(net, xs[0])
    if isinstance(net, RBMNetwork):
        return _rbm(net, xs[0], None if seeds is None else np.asarray(seeds))
    raise TypeError(f"expected an MLPNetwork, CNNNetwork or RBMNetwork, got {type(net).__name__}")


# ---- the real-valued network: an independent check of the folding and the integer output scale -------------

_U = 2.0**-53  # unit roundoff of float64


def _real_slack(bn, y: np.ndarray) -> np.ndarray:
    """Bound on the float64 evaluation error of ``bn(y)`` (a few roundings of terms of size |a|(|y|+|μ|) + |β|)."""
    a = np.abs(bn.gamma / np.sqrt(bn.var + bn.eps))
    return 8 * _U * (a * (np.abs(y) + np.abs(bn.mean)) + np.abs(bn.beta))


def real_check(net: MLPNetwork | CNNNetwork, x: np.ndarray, outputs: dict[str, np.ndarray]) -> tuple[str | None, int]:
    """Compare integer graph outputs with the network's real-valued batch norms (``net.real_bn``).

    Hidden layers: bit = [BN_i(y_i) >= 0] computed in float64 from the real statistics (not from the folded
    integer thresholds) must equal the packed bits ``h{i}`` exactly. Output: the label must be the argmax of
    the real BN output z, except where the real top score beats the exported label's score by no more than the
    proven tie bound δ (``export.network.label_tie_bound``, capped at 2^-32 of the largest |z|) plus the float64
    evaluation error; those inputs are counted as ties. The integer scores must lie within the bound of the folding,
    |score − 2^f z| <= (|y| + 1)/2 (+ evaluation error).

    Returns (description of the first difference or None, number of tied labels).
    """
    from export.layout import unpack_pm1
    from export.network import label_tie_bound

    if net.real_bn is None:
        raise ValueError("the network carries no real-valued batch-norm statistics")

    def mismatch(i: int, kind: str, y: np.ndarray, bits: np.ndarray, got: np.ndarray) -> str:
        idx = tuple(int(v) for v in np.argwhere(bits != got)[0])
        where = f"row {idx[0]}, " + (f"pixel {idx[1:-1]}, channel {idx[-1]}" if len(idx) > 2 else f"unit {idx[1]}")
        return (f"{kind} layer {i}, {where}: the real batch norm gives {'+1' if bits[idx] else '-1'} "
                f"(z = {float(net.real_bn[i](y)[idx]):.6g}), the export {'+1' if got[idx] else '-1'}: the integer "
                f"threshold does not fold the batch norm")

    start = 0
    if isinstance(net, CNNNetwork):
        h_, w_, c_ = net.image_shape
        a = first_layer_operand(net, x).reshape(-1, h_, w_, c_)
        for i, (conv, _, pool) in enumerate(net.features):
            y = conv_same(a, conv.weight, conv.pad)
            if pool == "fields":   # the real batch norm of the published order reads the pooled field
                y = maxpool2(y)
            bits = net.real_bn[i](y) >= 0
            got = unpack_pm1(np.asarray(outputs[f"h{i}"]), conv.out_channels) > 0
            if not np.array_equal(bits, got):
                return mismatch(i, "conv", y, bits, got), 0
            a = _pm1(bits)
            if pool == "bits":
                a = maxpool2(a)
        h = a.reshape(a.shape[0], -1)
        start = len(net.features)
    else:
        h = first_layer_operand(net, x)
    for i, (dense, _) in enumerate(net.hidden, start=start):
        y = h @ dense.weight.astype(np.float64).T
        bits = net.real_bn[i](y) >= 0
        got = unpack_pm1(np.asarray(outputs[f"h{i}"]), dense.shape[0]) > 0
        if not np.array_equal(bits, got):
            return mismatch(i, "hidden", y, bits, got), 0
        h = _pm1(bits)
    dense, aff = net.output
    bn = net.real_bn[-1]
    y = h @ dense.weight.astype(np.float64).T
    z = bn(y)
    slack = _real_slack(bn, y)
    delta = label_tie_bound(net)
    label = np.asarray(outputs["label"]).astype(np.int64)
    rows = np.arange(z.shape[0])
    best = np.argmax(z, axis=1)
    gap = z[rows, best] - z[rows, label]
    # A tie is a real top-two gap within the float64 evaluation error plus δ, the proven rounding bound of the
    # integer scores -- but never more than 2^-32 of the row's largest |z|: an exporter whose scale is coarse
    # (a large honest δ) must not excuse wrong labels. A well-chosen scale has δ ~ (fan-in + 1) 2^-53 max|z|.
    cap = 2.0**-32 * (1.0 + np.max(np.abs(z), axis=1))
    tol = np.minimum(0.0 if delta is None else delta, cap) + slack[rows, best] + slack[rows, label]
    wrong = np.flatnonzero(gap > tol)
    if wrong.size:
        r = int(wrong[0])
        return (f"label, row {r}: the real network's class {int(best[r])} beats the exported class "
                f"{int(label[r])} by {float(gap[r]):.3g}, more than the tie bound {float(tol[r]):.3g}: the "
                f"integer output scale is too coarse or the output batch norm is folded wrongly"), 0
    if aff.frac_bits is not None:
        scale = 2.0**aff.frac_bits
        err = np.abs(np.asarray(outputs["scores"]).astype(np.float64) - scale * z)
        # (|y| + 1)/2 from the rounding of scale and offset; the float64 evaluation of 2^f z and the int64 -> float64
        # conversion of the score add relative 2^-52 errors of the terms.
        bound = (np.abs(y) + 1) / 2 + scale * slack + 4 * _U * (np.abs(scale * z) + 1)
        bad = np.argwhere(err > bound)
        if bad.size:
            r, c = (int(v) for v in bad[0])
            return (f"scores, row {r}, class {c}: integer score {int(outputs['scores'][r, c])} differs from "
                    f"2^{aff.frac_bits} z = {scale * z[r, c]:.17g} by {err[r, c]:.3g}, beyond the folding's "
                    f"bound {bound[r, c]:.3g}"), 0
    return None, int(np.count_nonzero(best != label))
