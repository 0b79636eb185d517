"""FieldTable(y: int32 [B,N], table: T [K+1]; K) -> T [B,N] = table[(y + K) >> 1], y in {-K, -K+2, ..., K}.

On that domain y + K is even and >= 0, so Div by 2 (truncating) equals the shift. T is float32 or uint32.
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ._body import Body, make_function

NAME = "FieldTable"
INPUTS = ("y", "table")
OUTPUTS = ("out",)
ATTRIBUTES = ("K",)


def function(acc: int = TensorProto.FLOAT):
    b = Body()
    k = b.op("Cast", [b.attr_int("K")], to=TensorProto.INT32)
    idx = b.op("Div", [b.op("Add", ["y", k]), b.const(2, np.int32)])
    b.op("Gather", ["table", idx], outputs=["out"], axis=0)
    return make_function(NAME, INPUTS, OUTPUTS, b, ATTRIBUTES)
