"""UnitFieldTableCompact(y: int32 [B,R], values: T [S], lo, hi, off: int32 [R]; K) -> T [B,R]
= values[clamp((y[b,n] + K) >> 1, lo[n], hi[n]) - lo[n] + off[n]].

UnitFieldTable with each unit's row stored over its non-saturated span [lo_n, hi_n] only
(``export.compact_table``): ``values`` holds the spans one after another, row n's at ``off[n]``. Exact
**invariant** (checked by the builder, ``export.compact_table.check_compact``): every entry of the full row left
of the span equals ``values[off[n]]`` (the span's first entry) and every entry right of it equals the span's last
entry, so the clamp returns the full table's entry for every field y in {-K, -K+2, ..., K}. Body, all int32:
Div by 2 (truncating equals the shift: y + K is even and >= 0 on the domain), Min with ``hi`` then Max with
``lo`` (broadcast over the batch), Sub ``lo``, Add ``off``, Gather. T is float32 or uint32.
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ._body import Body, make_function

NAME = "UnitFieldTableCompact"
INPUTS = ("y", "values", "lo", "hi", "off")
OUTPUTS = ("out",)
ATTRIBUTES = ("K",)


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    k = b.op("Cast", [b.attr_int("K")], to=TensorProto.INT32)
    j = b.op("Div", [b.op("Add", ["y", k]), b.const(2, np.int32)])              # [B,R]: the full row's index
    j = b.op("Max", [b.op("Min", [j, "hi"]), "lo"])                             # clamp into the span
    idx = b.op("Add", [b.op("Sub", [j, "lo"]), "off"])
    b.op("Gather", ["values", idx], outputs=["out"], axis=0)
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
