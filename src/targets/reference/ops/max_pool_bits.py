"""MaxPoolBits: per-pixel words (B, H, W, Wc) -> (B, H/2, W/2, Wc), the OR of each 2x2 block, word by word.

max of ±1 values = +1 iff any is +1 = OR of the bits (bit 1 means +1); zero pad bits OR to zero.
"""
from __future__ import annotations

import numpy as np

from targets.reference.ops._check import check
from targets.reference.words import as_words


def max_pool_bits(p, *, word_bits: int = 64) -> np.ndarray:
    p = check(p, "MaxPoolBits input p", "uint64", 4)
    b, h, w, wc = p.shape
    if h % 2 or w % 2:
        raise ValueError(f"MaxPoolBits needs even H and W, got {h}x{w}")
    v = as_words(p, word_bits)
    q = v[:, 0::2, 0::2] | v[:, 0::2, 1::2] | v[:, 1::2, 0::2] | v[:, 1::2, 1::2]
    return np.ascontiguousarray(q).view("<u8").reshape(b, h // 2, w // 2, wc)
