"""UnpackBits: packed words (B, W) -> int8 ±1 (B, K), the first K bits, word by word.

bit k of a row is bit (k mod w) of word floor(k / w); the value is 2·bit - 1 (bit 1 means +1).
"""
from __future__ import annotations

import numpy as np

from targets.reference.ops._check import check, n_words64
from targets.reference.words import as_words


def unpack_bits(p, *, K: int, word_bits: int = 64) -> np.ndarray:
    p = check(p, "UnpackBits input p", "uint64", 2, {1: n_words64(K)})
    words = as_words(p, word_bits)
    shifts = np.arange(word_bits, dtype=words.dtype)
    bits = (words[:, :, None] >> shifts) & words.dtype.type(1)        # (B, Wv, w)
    bits = bits.reshape(p.shape[0], -1)[:, :int(K)]
    return (2 * bits.astype(np.int8) - 1).astype(np.int8)
