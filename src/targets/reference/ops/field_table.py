"""FieldTable: look up a per-field value for integer fields y in {-K, -K+2, ..., K}.

A sum of K terms ±1 has the parity of K, so (y + K) is even and j = (y + K) >> 1 in [0, K] enumerates
the K + 1 possible fields; out[b, n] = table[j]. A field outside that set is an error (a wrong field must
not be read as a neighbouring probability).
"""
from __future__ import annotations

import numpy as np

from targets.reference.ops._check import check


def field_table(y, table, *, K: int, word_bits: int = 64) -> np.ndarray:
    k = int(K)
    y = check(y, "FieldTable input y", "int32", 2)
    table = check(table, "FieldTable table", ("float32", "uint32"), 1, {0: k + 1})
    return table[field_index(y, k, "FieldTable")]


def field_index(y: np.ndarray, k: int, op: str) -> np.ndarray:
    """(y + K) >> 1 (int64) after checking every y is one of -K, -K+2, ..., K."""
    shifted = y.astype(np.int64) + k
    if y.size and (shifted.min() < 0 or shifted.max() > 2 * k or np.any(shifted & 1)):
        bad = y.ravel()[np.flatnonzero((shifted.ravel() < 0) | (shifted.ravel() > 2 * k) | (shifted.ravel() & 1))[0]]
        raise ValueError(f"{op}: field {bad} is not one of -K, -K+2, ..., K for K={k}")
    return shifted >> 1
