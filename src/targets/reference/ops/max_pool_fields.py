"""MaxPoolFields: int32 conv fields (B, H, W, N) -> (B, H/2, W/2, N), the maximum of each 2x2 block."""
from __future__ import annotations

import numpy as np

from targets.reference.ops._check import check


def max_pool_fields(y, *, word_bits: int = 64) -> np.ndarray:
    y = check(y, "MaxPoolFields input y", "int32", 4)
    b, h, w, n = y.shape
    if h % 2 or w % 2:
        raise ValueError(f"MaxPoolFields needs even H and W, got {h}x{w}")
    return np.maximum(np.maximum(y[:, 0::2, 0::2], y[:, 0::2, 1::2]),
                      np.maximum(y[:, 1::2, 0::2], y[:, 1::2, 1::2]))
