"""BitplaneConv and TernaryBitplaneConv: exact uint8 pixels (B, H*W*C) x packed conv weights -> int32 (B, H, W, O).

Pixel x = Σ_{j<8} 2^j p_j. Bit-plane j of the image is packed per pixel like any activation, its k x k patches
gathered (``_patches``) with positions outside the image reading bit j of the pad pixel value, then as for
BitplaneGemm:   binary Σ p_j w = 2 popcount(P_j AND wp) - popcount(P_j),
                ternary Σ p_j w = 2 popcount(P_j AND ws AND wm) - popcount(P_j AND wm),
summed with weights 2^j, word by word.
"""
from __future__ import annotations

import numpy as np

from targets.reference.ops._check import check, n_words64, to_int32
from targets.reference.ops._patches import gather_patches, pad_words, pixel_words
from targets.reference.words import as_words, pair_popcount, row_popcount


def _plane_rows(x, H, W, C, kernel, pad, word_bits, op):
    h, w, c, k = int(H), int(W), int(C), int(kernel)
    if k < 1 or k % 2 == 0:
        raise ValueError(f"{op} attribute kernel must be odd and >= 1, got {kernel}")
    if not 0 <= int(pad) <= 255:
        raise ValueError(f"{op} attribute pad must be a pixel value 0..255, got {pad}")
    x = check(x, f"{op} input x", "uint8", 2, {1: h * w * c}).reshape(-1, h, w, c)
    rows = []
    for j in range(8):
        plane = pixel_words(((x >> j) & 1).astype(bool), word_bits)
        rows.append(gather_patches(plane, k, pad_words(c, (int(pad) >> j) & 1, word_bits)))
    return x.shape[0], as_words(np.concatenate(rows), word_bits)          # (8 * B*H*W, k*k*Wc) words


def _weighted(per_plane: np.ndarray) -> np.ndarray:
    return np.tensordot(np.int64(1) << np.arange(8, dtype=np.int64), per_plane, axes=(0, 0))


def _weights(w, k, c, name, op):
    return check(w, f"{op} {name}", "uint64", 4, {1: k, 2: k, 3: n_words64(c)})


def bitplane_conv(x, wp, *, H: int, W: int, C: int, kernel: int, pad: int, word_bits: int = 64) -> np.ndarray:
    b, rows = _plane_rows(x, H, W, C, kernel, pad, word_bits, "BitplaneConv")
    wp = _weights(wp, int(kernel), int(C), "weights wp", "BitplaneConv")
    wv = as_words(wp.reshape(wp.shape[0], -1), word_bits)
    both = pair_popcount(rows, (wv,), np.bitwise_and).reshape(8, rows.shape[0] // 8, -1)
    ones = row_popcount(rows).reshape(8, -1, 1)
    y = to_int32(_weighted(2 * both - ones), "BitplaneConv")
    return y.reshape(b, int(H), int(W), -1)


def _and_and(p, s, m):
    return p & s & m


def ternary_bitplane_conv(x, ws, wm, *, H: int, W: int, C: int, kernel: int, pad: int,
                          word_bits: int = 64) -> np.ndarray:
    b, rows = _plane_rows(x, H, W, C, kernel, pad, word_bits, "TernaryBitplaneConv")
    ws = _weights(ws, int(kernel), int(C), "sign plane ws", "TernaryBitplaneConv")
    wm = _weights(wm, int(kernel), int(C), "mask wm", "TernaryBitplaneConv")
    s, m = (as_words(a.reshape(a.shape[0], -1), word_bits) for a in (ws, wm))
    n = rows.shape[0] // 8
    plus = pair_popcount(rows, (s, m), _and_and).reshape(8, n, -1)
    nonzero = pair_popcount(rows, (m,), np.bitwise_and).reshape(8, n, -1)
    y = to_int32(_weighted(2 * plus - nonzero), "TernaryBitplaneConv")
    return y.reshape(b, int(H), int(W), -1)
