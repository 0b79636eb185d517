"""Per-pixel packed activations (B, H, W, Wc) and the patch gathering every conv kernel shares.

A conv output pixel (i, j) reads the k x k neighbourhood of input pixels (i + di - r, j + dj - r), r = k // 2,
di, dj in 0..k-1, each contributing its Wc = ceil(C/64) channel words; concatenated in (di, dj, word) order they
form one row of k*k*Wc words, packed exactly like the weight row of output channel o (``wp[o]`` read as
(k, k, Wc)). A position outside the image contributes the pad pixel's words: the C low bits set for +1 (or for
bit-plane j of a pad pixel value with bit j set), zero words for -1. Pad bits past C are zero in every word of
both operands, so a row is a bit layout v1 row of K = k*k*C real bits with zero padding inside it -- XOR, AND and
popcount over it count only real positions.
"""
from __future__ import annotations

import numpy as np

from targets.reference.words import pack_rows


def pixel_words(bits: np.ndarray, word_bits: int) -> np.ndarray:
    """bool (B, H, W, C) -> per-pixel words uint64 (B, H, W, ceil(C/64)), built ``word_bits`` bits at a time."""
    b, h, w, c = bits.shape
    return pack_rows(bits.reshape(b * h * w, c), word_bits).reshape(b, h, w, -1)


def pad_words(c: int, bit: bool, word_bits: int) -> np.ndarray:
    """The words (ceil(C/64),) of a pixel whose C channel bits all equal ``bit`` (zero pad bits past C)."""
    return pack_rows(np.full((1, c), bool(bit)), word_bits)[0]


def gather_patches(xp: np.ndarray, k: int, fill: np.ndarray) -> np.ndarray:
    """(B, H, W, Wc) words -> (B*H*W, k*k*Wc) patch rows, positions outside the image reading ``fill`` (Wc,)."""
    b, h, w, wc = xp.shape
    r = k // 2
    padded = np.empty((b, h + 2 * r, w + 2 * r, wc), dtype=xp.dtype)
    padded[...] = fill
    padded[:, r:r + h, r:r + w, :] = xp
    rows = np.empty((b, h, w, k, k, wc), dtype=xp.dtype)
    for di in range(k):
        for dj in range(k):
            rows[:, :, :, di, dj, :] = padded[:, di:di + h, dj:dj + w, :]
    return rows.reshape(b * h * w, k * k * wc)
