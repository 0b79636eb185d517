"""ThresholdSignPixels: int32 conv fields (B, H, W, N) -> per-pixel packed bits (B, H, W, ceil(N/64)).

bit n of pixel (i, j) = s[n] · y[b, i, j, n] >= t[n] in int64 (as ThresholdSign), the N bits of a pixel packed
like a row.
"""
from __future__ import annotations

import numpy as np

from targets.reference.ops._check import check
from targets.reference.ops._patches import pixel_words


def threshold_sign_pixels(y, s, t, *, N: int, word_bits: int = 64) -> np.ndarray:
    y = check(y, "ThresholdSignPixels input y", "int32", 4, {3: int(N)})
    s = check(s, "ThresholdSignPixels signs s", "int8", 1, {0: int(N)})
    t = check(t, "ThresholdSignPixels thresholds t", "int32", 1, {0: int(N)})
    bits = s.astype(np.int64) * y.astype(np.int64) >= t.astype(np.int64)
    return pixel_words(bits, word_bits)
