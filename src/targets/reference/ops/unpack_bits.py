"""UnpackBits: packed words (B, W) -> int8 ±1 (B, K), the first K bits, word by word.

bit k of a row is bit (k mod w) of word floor(k / w); the value is 2·bit - 1 (bit 1 means +1).
"""
from __future__ import annotations

import numpy as np

from targets.reference.ops._check import check, n_words64
from targets.reference import words as _words
from targets.reference.words import as_words


def unpack_bits(p, *, K: int, word_bits: int = 64) -> np.ndarray:
    p = check(p, "UnpackBits input p", "uint64", 2, {1: n_words64(K)})
    words = as_words(p, word_bits)
    shifts = np.arange(word_bits, dtype=words.dtype)
    out = np.empty((p.shape[0], int(K)), dtype=np.int8)
    rows = max(1, _words.CHUNK_ELEMENTS // (words.shape[1] * word_bits))     # bounded (rows, Wv, w) intermediate
    for r0 in range(0, p.shape[0], rows):
        bits = (words[r0:r0 + rows, :, None] >> shifts) & words.dtype.type(1)   # (rows, Wv, w)
        bits = bits.reshape(bits.shape[0], -1)[:, :int(K)]
        out[r0:r0 + rows] = 2 * bits.astype(np.int8) - 1
    return out
