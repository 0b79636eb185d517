"""XnorPopcountGemm: packed ±1 rows x packed ±1 weights -> exact int32 dot products.

For x, w in {-1, +1}^K with bits b = (v == +1):   x_k w_k = +1 iff b(x_k) == b(w_k), else -1, so

    Σ_k x_k w_k = (#agree) - (#disagree) = K - 2 · #disagree = K - 2 · popcount(xp XOR wp)

The pad bits (past K) are 0 in both operands, XOR to 0 and add nothing to the popcount, so the true K
is used with no correction. The popcount is summed word by word at the chosen word width.
"""
from __future__ import annotations

import numpy as np

from targets.reference.ops._check import check, n_words64, to_int32
from targets.reference.words import as_words, pair_popcount


def xnor_popcount_gemm(xp, wp, *, K: int, word_bits: int = 64) -> np.ndarray:
    w64 = n_words64(K)
    xp = check(xp, "XnorPopcountGemm input xp", "uint64", 2, {1: w64})
    wp = check(wp, "XnorPopcountGemm weights wp", "uint64", 2, {1: w64})
    x, w = as_words(xp, word_bits), as_words(wp, word_bits)
    disagree = pair_popcount(x, (w,), np.bitwise_xor)
    return to_int32(int(K) - 2 * disagree, "XnorPopcountGemm")
