"""FlattenBits: per-pixel words (B, H, W, Wc) -> one contiguous packed row (B, ceil(K/64)), K = H*W*C.

Row bit (i W + j) C + c = bit c of pixel (i, j): the C real bits of every pixel are read word by word (bit c
is bit c mod w of word c // w) and repacked in (row, column, channel) order.
"""
from __future__ import annotations

import numpy as np

from targets.reference.ops._check import check, n_words64
from targets.reference.words import as_words, pack_rows


def flatten_bits(p, *, C: int, K: int, word_bits: int = 64) -> np.ndarray:
    c = int(C)
    p = check(p, "FlattenBits input p", "uint64", 4, {3: n_words64(c)})
    b, h, w, _ = p.shape
    if h * w * c != int(K):
        raise ValueError(f"FlattenBits attribute K={K} != H*W*C = {h}*{w}*{c}")
    v = as_words(p, word_bits)                                             # (B, H, W, Wv)
    shifts = np.arange(word_bits, dtype=v.dtype)
    bits = ((v[..., None] >> shifts) & v.dtype.type(1)).reshape(b, h, w, -1)[..., :c]
    return pack_rows(bits.reshape(b, h * w * c).astype(bool), word_bits)
