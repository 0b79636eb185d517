"""PackPixels: image x (B, H*W*C) in (row, column, channel) order -> per-pixel words uint64 (B, H, W, ceil(C/64)).

bit c of pixel (i, j) = x[b, (i W + j) C + c] >= threshold (int8 ±1 input: threshold 0), compared in float64
(exact for uint8/int8/float32 and the float32 attribute), packed at the chosen word width.
"""
from __future__ import annotations

import numpy as np

from targets.reference.ops._check import check
from targets.reference.ops._patches import pixel_words


def pack_pixels(x, *, H: int, W: int, C: int, threshold: float = 0.0, word_bits: int = 64) -> np.ndarray:
    x = check(x, "PackPixels input x", ("uint8", "int8", "float32"), 2, {1: int(H) * int(W) * int(C)})
    if x.dtype == np.int8:
        threshold = 0.0
    bits = x.astype(np.float64) >= float(np.float32(threshold))
    return pixel_words(bits.reshape(-1, int(H), int(W), int(C)), word_bits)
