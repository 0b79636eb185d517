"""BitplaneGemm and TernaryBitplaneGemm: exact uint8 pixels x packed weights -> int32.

Write x_k = Σ_{j<8} 2^j p_jk with bit-planes p_jk in {0, 1}; P_j is plane j packed like any row. Then

    Σ_k x_k w_k = Σ_j 2^j Σ_k p_jk w_k

Binary w = 2 b_k - 1 (b = weight bit):      Σ_k p_jk w_k = 2 popcount(P_j AND wp) - popcount(P_j)
Ternary w = m_k (2 s_k - 1):                Σ_k p_jk w_k = 2 popcount(P_j AND s AND m) - popcount(P_j AND m)

All 8 planes of all rows go through one popcount pass as a (8·B, W) operand.
"""
from __future__ import annotations

import numpy as np

from targets.reference.ops._check import check, n_words64, to_int32
from targets.reference.words import as_words, pack_rows, pair_popcount, row_popcount


def _planes(x: np.ndarray, word_bits: int) -> np.ndarray:
    """uint8 (B, K) -> packed planes uint64 (8, B, W): plane j holds bit j of every pixel."""
    b, k = x.shape
    bits = (x[None, :, :] >> np.arange(8, dtype=np.uint8)[:, None, None]) & 1   # (8, B, K)
    return pack_rows(bits.reshape(8 * b, k).astype(bool), word_bits).reshape(8, b, -1)


def _weighted(per_plane: np.ndarray) -> np.ndarray:
    """(8, B, N) plane sums -> Σ_j 2^j · sum_j."""
    return np.tensordot(np.int64(1) << np.arange(8, dtype=np.int64), per_plane, axes=(0, 0))


def bitplane_gemm(x, wp, *, K: int, word_bits: int = 64) -> np.ndarray:
    w64 = n_words64(K)
    x = check(x, "BitplaneGemm input x", "uint8", 2, {1: int(K)})
    wp = check(wp, "BitplaneGemm weights wp", "uint64", 2, {1: w64})
    b = x.shape[0]
    planes = as_words(_planes(x, word_bits).reshape(8 * b, w64), word_bits)
    w = as_words(wp, word_bits)
    both = pair_popcount(planes, (w,), np.bitwise_and).reshape(8, b, -1)   # popcount(P_j AND wp)
    ones = row_popcount(planes).reshape(8, b, 1)                              # popcount(P_j)
    return to_int32(_weighted(2 * both - ones), "BitplaneGemm")


def _and_and(p, s, m):
    return p & s & m


def ternary_bitplane_gemm(x, ws, wm, *, K: int, word_bits: int = 64) -> np.ndarray:
    w64 = n_words64(K)
    x = check(x, "TernaryBitplaneGemm input x", "uint8", 2, {1: int(K)})
    ws = check(ws, "TernaryBitplaneGemm sign plane ws", "uint64", 2, {1: w64})
    wm = check(wm, "TernaryBitplaneGemm mask wm", "uint64", 2, {1: w64, 0: ws.shape[0]})
    b = x.shape[0]
    planes = as_words(_planes(x, word_bits).reshape(8 * b, w64), word_bits)
    s, m = as_words(ws, word_bits), as_words(wm, word_bits)
    plus = pair_popcount(planes, (s, m), _and_and).reshape(8, b, -1)          # popcount(P_j AND s AND m)
    nonzero = pair_popcount(planes, (m,), np.bitwise_and).reshape(8, b, -1)   # popcount(P_j AND m)
    return to_int32(_weighted(2 * plus - nonzero), "TernaryBitplaneGemm")
