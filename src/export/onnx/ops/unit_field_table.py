"""UnitFieldTable(y: int32 [B,N], table: T [N, K+1]; K) -> T [B,N] = table[n, (y[b,n] + K) >> 1].

FieldTable with one row per unit (an RBM with fields: each unit's conditional probability depends on its own
field, so it has its own table over the K + 1 possible integer fields y in {-K, -K+2, ..., K}). Body: the table
flattened to N(K+1) entries, index n(K+1) + (y + K) / 2 with the row offsets n(K+1) = Range(0, N(K+1), K+1),
all in int32 (N(K+1) < 2^31 is checked by the builder); on the domain y + K is even and >= 0, so Div by 2
(truncating) equals the shift. T is float32 or uint32.
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ._body import Body, make_function

NAME = "UnitFieldTable"
INPUTS = ("y", "table")
OUTPUTS = ("out",)
ATTRIBUTES = ("K",)


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    k = b.op("Cast", [b.attr_int("K")], to=TensorProto.INT32)
    flat = b.op("Reshape", ["table", b.const([-1], np.int64)])
    size = b.op("Cast", [b.op("Size", ["table"])], to=TensorProto.INT32)
    step = b.op("Add", [k, b.const(1, np.int32)])
    offsets = b.op("Range", [b.const(0, np.int32), size, step])                 # [N]: n (K + 1)
    idx = b.op("Add", [b.op("Div", [b.op("Add", ["y", k]), b.const(2, np.int32)]), offsets])
    b.op("Gather", [flat, idx], outputs=["out"], axis=0)
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
