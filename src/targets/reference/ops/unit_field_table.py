"""UnitFieldTable: per-unit tables over integer fields y in {-K, -K+2, ..., K} (an RBM with fields).

out[b, n] = table[n, (y[b, n] + K) >> 1]; the table has one row of K + 1 entries per unit n. A field outside
the domain is an error, as for FieldTable.
"""
from __future__ import annotations

import numpy as np

from targets.reference.ops._check import check
from targets.reference.ops.field_table import field_index


def unit_field_table(y, table, *, K: int, word_bits: int = 64) -> np.ndarray:
    k = int(K)
    y = check(y, "UnitFieldTable input y", "int32", 2)
    table = check(table, "UnitFieldTable table", ("float32", "uint32"), 2, {0: y.shape[1], 1: k + 1})
    j = field_index(y, k, "UnitFieldTable")
    return table[np.arange(y.shape[1])[None, :], j]
