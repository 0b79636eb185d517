"""Word-level helpers shared by the reference kernels: word views, bit packing and chunked popcount sums.

Every packed tensor is stored as little-endian uint64 words (bit layout v1, ``export.layout``). A kernel
running at word width w in {8, 16, 32, 64} reads the same bytes as words of w bits
(``export.layout.view_words``): bit k of a row is bit (k mod w) of word floor(k / w) for every w, and the
zero pad bits of both operands stay zero in every view, so a popcount over all words of a row is the same
number whatever w is. Only the number of words a kernel touches changes (64/w times more for w < 64).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from export.layout import view_words

__all__ = ["WORD_WIDTHS", "as_words", "pack_rows", "row_popcount", "pair_popcount", "CHUNK_ELEMENTS"]

WORD_WIDTHS = (8, 16, 32, 64)
# Largest intermediate (rows x cols x words) a kernel materialises at once: 4 M elements, i.e. 4-32 MiB per
# temporary (8- to 64-bit words; a ternary kernel holds two), whatever B, N and K are (B·N·W reaches
# billions for large layers and batches).
CHUNK_ELEMENTS = 1 << 22


def as_words(packed: np.ndarray, word_bits: int, name: str = "operand") -> np.ndarray:
    """uint64 words (..., W) -> the same bytes as ``word_bits``-bit words (..., W * 64 / word_bits)."""
    packed = np.asarray(packed)
    if packed.dtype != np.uint64:
        raise TypeError(f"{name} must be packed uint64 words (bit layout v1), got dtype {packed.dtype}")
    return view_words(packed, word_bits)


def pack_rows(bits: np.ndarray, word_bits: int) -> np.ndarray:
    """Pack a bool array (B, K) into uint64 words (B, ceil(K/64)), building ``word_bits``-bit words.

    word j of a row = Σ_{i < w} bit[j*w + i] << i   (LSB first; bits past K are 0, the pad rule)
    The w-bit words are then read back as uint64: with little-endian words, 64/w consecutive w-bit words
    are exactly one 64-bit word, so the result does not depend on w. Rows go in blocks of at most
    :data:`CHUNK_ELEMENTS` bits (the shifted words are w/8 bytes per bit).
    """
    bits = np.asarray(bits, dtype=bool)
    b, k = bits.shape
    w64 = -(-k // 64)
    out = np.empty((b, w64), dtype="<u8")
    wdt = np.dtype(f"<u{word_bits // 8}")
    shifts = np.arange(word_bits, dtype=wdt)
    rows = max(1, CHUNK_ELEMENTS // (w64 * 64))
    for r0 in range(0, b, rows):
        blk = bits[r0:r0 + rows]
        padded = np.zeros((blk.shape[0], w64 * 64), dtype=bool)
        padded[:, :k] = blk
        groups = padded.reshape(blk.shape[0], w64 * 64 // word_bits, word_bits).astype(wdt)
        # Disjoint bits: OR-ing bit_i << i sets each bit once and never carries.
        words = np.bitwise_or.reduce(groups << shifts, axis=-1).astype(wdt)
        out[r0:r0 + rows] = np.ascontiguousarray(words).view("<u8")
    return out


def _acc_dtype(max_count: int) -> np.dtype:
    for dt in (np.uint16, np.uint32):
        if max_count <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.int64)


def row_popcount(words: np.ndarray) -> np.ndarray:
    """Σ over the last axis of popcount(word): int64 of shape words.shape[:-1]."""
    return np.bitwise_count(words).sum(axis=-1, dtype=np.int64)


def pair_popcount(a: np.ndarray, b: tuple[np.ndarray, ...],
                  combine: Callable[..., np.ndarray]) -> np.ndarray:
    """out[i, n] = Σ_w popcount(combine(a[i, w], b0[n, w], b1[n, w], ...)) as int64 (I, N).

    ``a`` is (I, Wv) and every ``b`` operand (N, Wv), all of one word dtype. The (I, N, Wv) intermediate is
    built in blocks of at most :data:`CHUNK_ELEMENTS` elements (rows of ``a`` x rows of ``b``), so memory
    stays bounded for large B·N·W.
    """
    n_i, wv = a.shape
    n_n = b[0].shape[0]
    out = np.empty((n_i, n_n), dtype=np.int64)
    # The per-pair count is at most wv * word_bits: accumulate in the narrowest unsigned type that holds it
    # (numpy's reduction is ~2x faster into uint16 than into int64 for 8-bit words).
    acc = _acc_dtype(wv * a.dtype.itemsize * 8)
    # Block sizes: take as many rows of b as fit with one row of a, then as many rows of a as fit.
    nb = max(1, min(n_n, CHUNK_ELEMENTS // max(1, wv)))
    na = max(1, min(n_i, CHUNK_ELEMENTS // max(1, wv * nb)))
    for i0 in range(0, n_i, na):
        ac = a[i0:i0 + na, None, :]
        for n0 in range(0, n_n, nb):
            bc = [x[None, n0:n0 + nb, :] for x in b]
            out[i0:i0 + na, n0:n0 + nb] = np.bitwise_count(combine(ac, *bc)).sum(axis=-1, dtype=acc)
    return out
