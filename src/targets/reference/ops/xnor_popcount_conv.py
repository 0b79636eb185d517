"""XnorPopcountConv and TernaryPopcountConv: per-pixel packed ±1 activations x packed conv weights -> int32.

Each output pixel's k x k patch is gathered into one row of k*k*Wc words (``_patches``; positions outside the
image read the pad value: +1 = C low bits set, -1 = zero words), and the row goes through the same
XNOR-popcount identity as a dense layer, with K = k*k*C:

    binary   Σ x w = K - 2 popcount(row XOR wp[o])
    ternary  Σ x w = popcount(wm[o]) - 2 popcount((row XOR ws[o]) AND wm[o])

word by word at the chosen width.
"""
from __future__ import annotations

import numpy as np

from targets.reference.ops._check import check, n_words64, to_int32
from targets.reference.ops._patches import gather_patches, pad_words
from targets.reference.words import as_words, pair_popcount, row_popcount


def _operands(xp, weights, names, C, kernel, pad, op):
    wc = n_words64(C)
    k = int(kernel)
    if k < 1 or k % 2 == 0:
        raise ValueError(f"{op} attribute kernel must be odd and >= 1, got {kernel}")
    if int(pad) not in (-1, 1):
        raise ValueError(f"{op} attribute pad must be -1 or +1 (±1 activations), got {pad}")
    xp = check(xp, f"{op} input xp", "uint64", 4, {3: wc})
    ws = [check(w, f"{op} {n}", "uint64", 4, {1: k, 2: k, 3: wc}) for w, n in zip(weights, names)]
    return xp, ws, k


def _rows(xp, k, C, pad, word_bits):
    return as_words(gather_patches(xp, k, pad_words(int(C), int(pad) == 1, word_bits)), word_bits)


def xnor_popcount_conv(xp, wp, *, C: int, kernel: int, pad: int, word_bits: int = 64) -> np.ndarray:
    xp, (wp,), k = _operands(xp, (wp,), ("weights wp",), C, kernel, pad, "XnorPopcountConv")
    b, h, w, _ = xp.shape
    rows = _rows(xp, k, C, pad, word_bits)
    wv = as_words(wp.reshape(wp.shape[0], -1), word_bits)
    disagree = pair_popcount(rows, (wv,), np.bitwise_xor)
    return to_int32(k * k * int(C) - 2 * disagree, "XnorPopcountConv").reshape(b, h, w, -1)


def _xor_and(x, s, m):
    return (x ^ s) & m


def ternary_popcount_conv(xp, ws, wm, *, C: int, kernel: int, pad: int, word_bits: int = 64) -> np.ndarray:
    xp, (ws, wm), k = _operands(xp, (ws, wm), ("sign plane ws", "mask wm"), C, kernel, pad, "TernaryPopcountConv")
    if ws.shape != wm.shape:
        raise ValueError(f"TernaryPopcountConv sign plane and mask shapes differ: {ws.shape} vs {wm.shape}")
    b, h, w, _ = xp.shape
    rows = _rows(xp, k, C, pad, word_bits)
    s, m = (as_words(a.reshape(a.shape[0], -1), word_bits) for a in (ws, wm))
    nonzero = row_popcount(m)
    disagree = pair_popcount(rows, (s, m), _xor_and)
    return to_int32(nonzero[None, :] - 2 * disagree, "TernaryPopcountConv").reshape(b, h, w, -1)
