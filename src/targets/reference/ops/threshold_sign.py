"""ThresholdSign: int32 fields -> packed bits, bit n = (s[n] · y[b, n] >= t[n]).

This is sign(BN(y)) folded into integers (``export.network.fold_batchnorm``): s = +1 for a positive BN
scale, s = -1 for a negative one (the comparison flips), s = 0 for a zero scale (a constant bit: 0 >= t).
The product is taken in int64 so s · y never overflows (y = -2^31, s = -1). The N output bits of a row are
packed like any row (N along the reduction axis of the next layer).
"""
from __future__ import annotations

import numpy as np

from targets.reference.ops._check import check
from targets.reference.words import pack_rows


def threshold_sign(y, s, t, *, N: int, word_bits: int = 64) -> np.ndarray:
    y = check(y, "ThresholdSign input y", "int32", 2, {1: int(N)})
    s = check(s, "ThresholdSign signs s", "int8", 1, {0: int(N)})
    t = check(t, "ThresholdSign thresholds t", "int32", 1, {0: int(N)})
    bits = s.astype(np.int64)[None, :] * y.astype(np.int64) >= t.astype(np.int64)[None, :]
    return pack_rows(bits, word_bits)
