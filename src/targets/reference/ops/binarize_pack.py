"""BinarizePack: x (B, K) uint8 / int8 / float32 -> packed bits uint64 (B, ceil(K/64)).

    bit k = x[b, k] >= threshold        (sign(0) = +1: a value equal to the threshold packs to 1)

int8 input carries ±1 values and is packed with threshold 0 (+1 -> 1, -1 -> 0). The comparison is done in
float64: uint8, int8 and float32 values and the float32 attribute are all exact in float64, so the result
equals the float32 comparison an ONNX runtime makes.
"""
from __future__ import annotations

import numpy as np

from targets.reference.ops._check import check
from targets.reference.words import pack_rows


def binarize_pack(x, *, K: int, threshold: float = 0.0, word_bits: int = 64) -> np.ndarray:
    x = check(x, "BinarizePack input x", ("uint8", "int8", "float32"), 2, {1: int(K)})
    if x.dtype == np.int8:
        threshold = 0.0
    thr = float(np.float32(threshold))  # the attribute as the graph stores it
    return pack_rows(x.astype(np.float64) >= thr, word_bits)
