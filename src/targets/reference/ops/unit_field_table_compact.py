"""UnitFieldTableCompact: per-unit tables stored over each row's span (an RBM with fields, docs/ops.md).

out[b, n] = values[clamp((y[b, n] + K) >> 1, lo[n], hi[n]) - lo[n] + off[n]]. Written here from the op's
definition, not from the exporter's ``export.compact_table``, so the simulator checks that module rather than
repeating it. A field outside {-K, ..., K}, a span outside [0, K] or one that reads past ``values`` is an error.
"""
from __future__ import annotations

import numpy as np

from targets.reference.ops._check import check
from targets.reference.ops.field_table import field_index

_OP = "UnitFieldTableCompact"


def unit_field_table_compact(y, values, lo, hi, off, *, K: int, word_bits: int = 64) -> np.ndarray:
    k = int(K)
    y = check(y, f"{_OP} input y", "int32", 2)
    values = check(values, f"{_OP} values", ("float32", "uint32"), 1)
    r = {0: y.shape[1]}
    lo, hi, off = (check(a, f"{_OP} {name}", "int32", 1, r) for a, name in ((lo, "lo"), (hi, "hi"), (off, "off")))
    bad = (lo < 0) | (hi < lo) | (hi > k) | (off < 0) | (off.astype(np.int64) + hi - lo >= values.shape[0])
    if bad.any():
        n = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{_OP}: row {n} has span [{lo[n]}, {hi[n]}] at offset {off[n]}; expected 0 <= lo <= hi <= "
                         f"K={k} and the span inside the {values.shape[0]} values")
    j = field_index(y, k, _OP)                                   # int64 (B, R), checked
    return values[np.minimum(np.maximum(j, lo), hi) - lo + off]
