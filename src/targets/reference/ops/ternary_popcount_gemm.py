"""TernaryPopcountGemm: packed ±1 rows x ternary weights (sign plane s, nonzero mask m) -> int32.

For w in {-1, 0, +1} with m = (w != 0) and s = (w == +1) (s = 0 where w = 0), and x in {-1, +1}:
a product x_k w_k is 0 where m_k = 0, else +1 when bits agree and -1 when they differ, so

    Σ_k x_k w_k = Σ_k m_k - 2 Σ_k m_k [x_k != s_k] = popcount(m) - 2 · popcount((xp XOR s) AND m)

Pad bits of m are 0, which removes them from both terms.
"""
from __future__ import annotations

import numpy as np

from targets.reference.ops._check import check, n_words64, to_int32
from targets.reference.words import as_words, pair_popcount, row_popcount


def _xor_and(x, s, m):
    return (x ^ s) & m


def ternary_popcount_gemm(xp, ws, wm, *, K: int, word_bits: int = 64) -> np.ndarray:
    w64 = n_words64(K)
    xp = check(xp, "TernaryPopcountGemm input xp", "uint64", 2, {1: w64})
    ws = check(ws, "TernaryPopcountGemm sign plane ws", "uint64", 2, {1: w64})
    wm = check(wm, "TernaryPopcountGemm mask wm", "uint64", 2, {1: w64, 0: ws.shape[0]})
    x, s, m = (as_words(a, word_bits) for a in (xp, ws, wm))
    nonzero = row_popcount(m)                          # (N,)
    disagree = pair_popcount(x, (s, m), _xor_and)      # (B, N)
    return to_int32(nonzero[None, :] - 2 * disagree, "TernaryPopcountGemm")
