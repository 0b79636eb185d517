"""CNN files on the native kernels: every conv layer is the blocked popcount GEMM of ``lp_gemm.c`` over patch rows.

A conv is a GEMM whose rows are the output pixels' patches and whose weight rows are the filters, packed the same
way (docs/ops.md, "CNN"); the threshold epilogue of the GEMM writes the per-pixel packed channel bits directly.

* Packed (±1) conv: ``lpn_conv_rows`` (C, ``lp_ops.c``) gathers each output pixel's k*k neighbouring pixels'
  C channel bits into one compact layout-v1 row of K = k*k*C bits in (di, dj, c) order -- positions outside the
  image read the pad pixel (all C bits = 1 for pad +1, 0 for pad -1, as ``targets.reference.ops._patches``) --
  and the weights (O, k, k, C) are packed as rows of the same K bits, so the GEMM runs with the true fan-in and
  no per-pixel word padding inside a row (C < 64 would otherwise waste most of every row).
* Bit-plane first conv (uint8 pixels): the k*k*C pixel values of each patch (positions outside the image = the
  layer's pad pixel value) form a uint8 row of K = k*k*C values and the weights are repacked as one contiguous
  K-bit row in the same (di, dj, c) order; the existing bit-plane GEMM then computes Σ pixel*w exactly.
* Max-pool after the threshold (pool "bits"): OR of the 2x2 pixel words (numpy). Before it (pool "fields",
  conv -> max-pool -> BN -> sign): the GEMM writes the int32 fields without an epilogue, then
  ``lpn_pool_fields_threshold`` (C, ``lp_ops.c``, the device kernels' ``lp_max_pool2_fields`` and
  ``lp_threshold_pack``) takes the 2x2 max and thresholds it. Flatten: a reshape when C is a multiple of 64, else the C real
  bits of every pixel repacked into one layout-v1 row (numpy unpackbits/packbits, little-endian bit order).
* Dense layers, affine and argmax: the same C calls as an MLP's layers.
"""
from __future__ import annotations

import numpy as np

from export.layout import n_words, pack_pm1, pack_ternary
from export.network import CNNNetwork

__all__ = ["CNNRunner"]

_XNOR, _TERNARY, _BITPLANE, _TERNARY_BITPLANE = 0, 1, 2, 3
_ACT_NONE, _ACT_THRESHOLD = 0, 1
_IN_KIND = {"pm1": 0, "u8": 1, "f32": 2}


def _pixel_patches(img: np.ndarray, k: int, pad: int) -> np.ndarray:
    """uint8 (B, H, W, C) -> (B*H*W, k*k*C) pixel patch rows in (di, dj, c) order; outside the image = ``pad``."""
    b, h, w, c = img.shape
    r = k // 2
    padded = np.full((b, h + 2 * r, w + 2 * r, c), pad, np.uint8)
    padded[:, r:r + h, r:r + w, :] = img
    rows = np.empty((b, h, w, k, k, c), np.uint8)
    for di in range(k):
        for dj in range(k):
            rows[:, :, :, di, dj, :] = padded[:, di:di + h, dj:dj + w, :]
    return rows.reshape(b * h * w, k * k * c)


def flatten_words(p: np.ndarray, c: int) -> np.ndarray:
    """Per-pixel words (B, H, W, Wc) -> one layout-v1 row (B, ceil(H*W*C/64)): row bit (iW+j)C+ch = bit ch of pixel."""
    b, h, w, wc = p.shape
    if c % 64 == 0:
        return np.ascontiguousarray(p.reshape(b, h * w * wc))
    # layout v1 words are little-endian with bit 0 first: the bytes read in 'little' bit order are bits 0, 1, ...
    bits = np.unpackbits(np.ascontiguousarray(p).view(np.uint8).reshape(b, h, w, wc * 8), axis=-1,
                         bitorder="little")[..., :c]
    k = h * w * c
    out = np.zeros((b, n_words(k) * 8), np.uint8)
    out[:, :(k + 7) // 8] = np.packbits(bits.reshape(b, k), axis=-1, bitorder="little")
    return out.view(np.uint64)


def _pool(p: np.ndarray) -> np.ndarray:
    return p[:, 0::2, 0::2] | p[:, 0::2, 1::2] | p[:, 1::2, 0::2] | p[:, 1::2, 1::2]


class CNNRunner:
    """The per-layer plan of one :class:`CNNNetwork` (weights packed once) and its forward pass."""

    def __init__(self, lib, net: CNNNetwork, in_kind: str, thr_f32: float, thr_u8: int) -> None:
        self.lib, self.net = lib, net
        self.in_kind, self.thr_f32, self.thr_u8 = in_kind, thr_f32, thr_u8
        h, w, c = net.image_shape
        self.convs = []
        for i, (conv, thr, pool) in enumerate(net.features):
            o, k = conv.out_channels, conv.kernel
            s = np.ascontiguousarray(thr.s, np.int8)
            flat = conv.weight.reshape(o, k * k * c)   # (di, dj, c) order: the patch rows' bit order
            planes = i == 0 and in_kind == "bitplanes"
            if conv.ternary:
                ws, wm = pack_ternary(flat)
                nnz = np.bitwise_count(wm).sum(axis=1, dtype=np.int64).astype(np.int32)
                spec = (_TERNARY_BITPLANE if planes else _TERNARY, k * k * c, ws, wm, nnz)
            else:
                spec = (_BITPLANE if planes else _XNOR, k * k * c, pack_pm1(flat), None, None)
            t32 = np.ascontiguousarray(thr.t, np.int32)
            self.convs.append(dict(spec=spec, o=o, k=k, c=c, h=h, w=w, pad=conv.pad, pool=pool, s=s, t=t32))
            c = o
            if pool:
                h, w = h // 2, w // 2
        self.flat_c = c
        self.dense = []
        for dense, thr in net.hidden:
            self.dense.append((dense, np.ascontiguousarray(thr.s, np.int8), np.ascontiguousarray(thr.t, np.int32)))
        self.dense.append((net.output[0], None, None))
        aff = net.output[1]
        self.scale = np.ascontiguousarray(aff.scale, np.int64)
        self.offset = np.ascontiguousarray(aff.offset, np.int64)
        from targets.native.runtime import _layer_spec

        self.dense_specs = [_layer_spec(d, False) for d, _, _ in self.dense]

    def _gemm(self, kind, k, n, rows, x, w, m, nnz, y, act, bits, s, t, ex, pops=None) -> None:
        self.lib.layer(kind, k, n, rows, x, pops, w, m, nnz, y, act, bits, s, t, None, None, None, 0, *ex)

    def run(self, x: np.ndarray, want: set[str], ex: tuple) -> dict[str, np.ndarray]:
        b = x.shape[0]
        out: dict[str, np.ndarray] = {}
        h, w, c = self.net.image_shape
        cur = None
        if self.in_kind != "bitplanes":
            cur = np.empty((b, h, w, n_words(c)), np.uint64)
            self.lib.pack(_IN_KIND[self.in_kind], c, b * h * w, x, self.thr_f32, self.thr_u8, cur)
            out["xp"] = cur
        for i, L in enumerate(self.convs):
            kind, kk, wt, wm, nnz = L["spec"]
            o, k, h, w = L["o"], L["k"], L["h"], L["w"]
            n = b * h * w
            pops = None
            if kind in (_BITPLANE, _TERNARY_BITPLANE):
                patches = _pixel_patches(x.reshape(b, h, w, L["c"]), k, L["pad"])
                rows = np.empty((n, 8, n_words(kk)), np.uint64)
                pops = np.empty((n, 8), np.int32)
                self.lib.planes(kk, n, patches, rows, pops)
            else:
                rows = np.empty((n, n_words(kk)), np.uint64)
                self.lib.conv_rows(b, h, w, L["c"], k, int(L["pad"] == 1), cur, rows)
            if L["pool"] == "fields":
                y = np.empty((n, o), np.int32)
                self._gemm(kind, kk, o, n, rows, wt, wm, nnz, y, _ACT_NONE, None, None, None, ex, pops)
                m = np.empty((b, h // 2, w // 2, o), np.int32)
                bits = np.empty((b, h // 2, w // 2, n_words(o)), np.uint64)
                self.lib.pool_fields(b, h, w, o, y, L["s"], L["t"], m, bits)
                out[f"y{i}"], out[f"m{i}"], out[f"h{i}"] = y.reshape(b, h, w, o), m, bits
                cur = bits
                continue
            y = np.empty((n, o), np.int32) if f"y{i}" in want else None
            bits = np.empty((b, h, w, n_words(o)), np.uint64)
            self._gemm(kind, kk, o, n, rows, wt, wm, nnz, y, _ACT_THRESHOLD, bits, L["s"], L["t"], ex, pops)
            if y is not None:
                out[f"y{i}"] = y.reshape(b, h, w, o)
            out[f"h{i}"] = cur = bits
            if L["pool"]:
                out[f"p{i}"] = cur = np.ascontiguousarray(_pool(cur))
        flat = out["flat"] = flatten_words(cur, self.flat_c)
        j0 = len(self.convs)
        last = len(self.dense) - 1
        for j, ((dense, s, t), spec) in enumerate(zip(self.dense, self.dense_specs)):
            kind, k, nout, wt, wm, nnz = spec
            name = j0 + j
            need_y = j == last or f"y{name}" in want
            y = np.empty((b, nout), np.int32) if need_y else None
            if j == last:
                self._gemm(kind, k, nout, b, flat, wt, wm, nnz, y, _ACT_NONE, None, None, None, ex)
            else:
                bits = np.empty((b, n_words(nout)), np.uint64)
                self._gemm(kind, k, nout, b, flat, wt, wm, nnz, y, _ACT_THRESHOLD, bits, s, t, ex)
                out[f"h{name}"] = flat = bits
            if y is not None:
                out[f"y{name}"] = y
        scores = np.empty((b, self.scale.shape[0]), np.int64)
        label = np.empty(b, np.int64)
        self.lib.affine_argmax(b, self.scale.shape[0], out[f"y{j0 + last}"], self.scale, self.offset, scores, label)
        out["scores"], out["label"] = scores, label
        return out
